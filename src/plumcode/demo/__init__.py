"""The embedded demo: a procedural problem family, two small shipped models, and ``plum demo``.

``family`` generates problems and splits compositions into ``seen`` / ``instructions_only`` /
``unseen``; ``sets`` fixes the demo's instruction and evaluation sets; ``corpus`` turns problems
into the models' training text (``scripts/train_demo_models.py`` trains them). See docs/demo.md.
"""

from pathlib import Path

MODELS_DIR = Path(__file__).parent / "models"
POLICY_DIR = MODELS_DIR / "policy"
TESTGEN_DIR = MODELS_DIR / "testgen"
