"""Optimizers and learning-rate schedules, as torch.optim (update loops in C++)::

opt = al.optim.AdamW(model.parameters(), lr=3e-4)
sched = al.optim.WarmupCosine(opt, warmup_steps=100, total_steps=1000)
for batch in batches:
    loss = ...; loss.backward()
    al.optim.clip_grad_norm_(model.parameters(), 1.0)
    opt.step(); sched.step(); opt.zero_grad()
"""

from attnlab.optim import lr_scheduler
from attnlab.optim.adam import Adam, AdamW
from attnlab.optim.clip import clip_grad_norm_
from attnlab.optim.lr_scheduler import LambdaLR, Noam, WarmupCosine
from attnlab.optim.optimizer import Optimizer
from attnlab.optim.sgd import SGD

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "LambdaLR",
    "Noam",
    "Optimizer",
    "WarmupCosine",
    "clip_grad_norm_",
    "lr_scheduler",
]
