"""A stand-in for ``configargparse``, which some leaderboard strategies import for type
names only: its parser and namespace are the standard library's."""

from argparse import ArgumentParser, Namespace

ArgParser = ArgumentParser

__all__ = ["ArgParser", "ArgumentParser", "Namespace"]
