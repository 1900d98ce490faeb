"""The ``socflow`` command: one module per sub-command group, registered in ``main.COMMANDS``."""
