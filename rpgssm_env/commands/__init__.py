"""Sub-commands of the ``rpgssm`` command line.

Each module here defines ``NAME`` (the sub-command), ``HELP`` (one line),
``add_arguments(parser: argparse.ArgumentParser) -> None`` and ``run(args) -> int``. Modules are
discovered automatically; keep their top-level imports light (import heavy libraries inside
``run``) so that ``rpgssm --help`` stays fast.
"""
