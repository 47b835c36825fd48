"""The ``reid`` command: one click group whose sub-commands are imported only when called."""
