"""Data for training: ``Task`` (vocabulary, train and test splits, seeded batches) and the
synthetic generators in ``tasks``.

>>> import attnlab as al
>>> task = al.data.tasks.reverse(length=4, n_train=100, n_test=10)
>>> task.decode(task.train.inputs[0])  # doctest: +SKIP
'7 2 9 4 <sep> 4 9 2'
"""

from attnlab.data import tasks
from attnlab.data.task import IGNORE, Batch, Split, Task

__all__ = ["IGNORE", "Batch", "Split", "Task", "tasks"]
