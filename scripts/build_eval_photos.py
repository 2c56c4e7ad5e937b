"""Build the small labelled set of real photos `realsyn eval` is tested on (see
realsyn/evaluate/photos.py for the layouts).

Usage: python scripts/build_eval_photos.py OUT [--train-views 4] [--test-views 2]
"""

from realsyn.evaluate.photos import main

if __name__ == "__main__":
    main()
