"""Plain-Python oracles for the synthetic tasks, written from each task's definition over
token strings (not from the generators' NumPy code)."""


def copy(prompt):
    return list(prompt)


def reverse(prompt):
    return list(reversed(prompt))


def sort(prompt):
    return sorted(prompt, key=int)


def add(a_digits, b_digits):
    """The sum of two digit lists, n + 1 digits, least significant first."""
    total = int("".join(a_digits)) + int("".join(b_digits))
    return list(reversed(str(total).zfill(len(a_digits) + 1)))


def modular_add(a, b, p):
    return str((int(a) + int(b)) % p)


def histogram(tokens):
    return [str(tokens.count(token)) for token in tokens]


def dyck(tokens):
    """Each prefix's status: "balanced", "open" or "invalid" (then invalid for good)."""
    closer_of = {"(": ")", "[": "]"}
    stack, labels, invalid = [], [], False
    for token in tokens:
        if not invalid:
            if token in closer_of:
                stack.append(closer_of[token])
            elif stack and stack[-1] == token:
                stack.pop()
            else:
                invalid = True
        labels.append("invalid" if invalid else "open" if stack else "balanced")
    return labels
