"""``python -m bench``: run every benchmark (see bench/run.py)."""

from bench.run import main

if __name__ == "__main__":  # the batch runner's worker processes import this module again
    main()
