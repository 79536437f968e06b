"""The CLI's one exception type, in its own module so that subcommands can import it."""


class UserError(Exception):
    """A problem with the user's input (a file, a flag's value): one line, exit 1."""
