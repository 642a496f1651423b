import sys

from pavedroad.cli import main

sys.exit(main(sys.argv[1:]))
