"""One error type for bad data input; messages name the path and what was expected."""


class DataError(ValueError):
    """A dataset folder, file, split or option that is not what a reader expects."""
