"""``python -m helpline.cli``: the ``helpline`` command."""

from helpline.cli import main

main()
