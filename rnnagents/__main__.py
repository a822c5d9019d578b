"""``python -m rnnagents`` is the ``rnnagents`` command."""

from rnnagents.cli import main

main()
