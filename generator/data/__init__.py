"""The experiment's chat data: prepare it, check it, look at it, sample a scoring request from it.

Only `prepare` and `stats` need the optional data extra (requirements-data.txt); they import it
inside the functions that use it.
"""

from generator.errors import GeneratorError

SPLITS = ("train_sft", "test_sft", "train_gen", "test_gen")


class DataError(GeneratorError):
    """A data step cannot go on; the message says what to do."""
