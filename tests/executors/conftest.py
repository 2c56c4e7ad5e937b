import sys
from pathlib import Path

# slow_stage.py is imported by the tests and by the processes they start.
sys.path.insert(0, str(Path(__file__).parent))
