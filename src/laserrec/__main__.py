"""``python -m laserrec`` runs the command-line tool (as ``laserrec``; also under ``torchrun``)."""

from laserrec.cli import main

main()
