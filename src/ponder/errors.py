"""Exceptions. A ``UserError`` is a mistake in what the user asked for; the CLI prints its
message on one line and exits with status 2 instead of showing a traceback."""


class UserError(ValueError):
    """Bad input from the user: a wrong number count, an unknown task, a missing file."""


def read_json(path, what: str = "a JSON object") -> dict:
    """The JSON object in the file ``path`` that a user pointed ponder at; ``UserError`` saying which
    file and why when it cannot be read or is not ``what`` (a JSON object, in UTF-8)."""
    import json
    from pathlib import Path

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} is missing") from None
    except (OSError, ValueError, RecursionError) as e:  # unreadable, not UTF-8, not JSON, nested too deep
        raise UserError(f"{path} is not {what}: {type(e).__name__}: {str(e)[:200]}") from None
    if not isinstance(doc, dict):
        raise UserError(f"{path} is not {what}: it holds a JSON {type(doc).__name__}, not an object")
    return doc
