"""Verifiable problem families and their registry."""

from ponder.tasks.base import Task, get_task, load_problems, register, save_problems, task_names
from ponder.tasks.arithmetic import ArithmeticTask
from ponder.tasks.countdown import CountdownTask
from ponder.tasks.math import MathTask, equivalent

register("countdown", lambda: CountdownTask())
for _k in range(3, 7):
    register(f"countdown-{_k}", lambda k=_k: CountdownTask(name=f"countdown-{k}", k=k))
register("game24", lambda: CountdownTask(name="game24", k=4, numbers_range=(1, 13), targets=(24, 24),
                                         rational=True, heldout_fraction=0.0, spell_out=False, benchmark="tot"))
register("math", lambda: MathTask())
register("arith", lambda: ArithmeticTask())
for _d in range(1, 7):
    register(f"arith-{_d}", lambda d=_d: ArithmeticTask(name=f"arith-{d}", max_digits=d))

WORDS = tuple(dict.fromkeys(w for cls in (CountdownTask, ArithmeticTask, MathTask) for w in cls.WORDS))
"""Every word and symbol the tasks write as single tokens of the nano tokenizer (each task's
``WORDS``); ``ponder.train.vocab`` lays them out in the nano vocabulary."""

__all__ = ["WORDS", "ArithmeticTask", "CountdownTask", "MathTask", "Task", "equivalent", "get_task", "load_problems", "register", "save_problems", "task_names"]
