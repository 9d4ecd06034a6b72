"""Model, dataset and Space cards for LLaMA-Omni repositories on the Hugging Face Hub, and the push command.

    hub_cards.parts         what the cards know about base models, instruction sources, voices and licences
    hub_cards.templates     the Jinja templates of the card bodies
    hub_cards.rendering     what the renderers share (`CardError`, body rendering, card assembly, front-matter reading)
    hub_cards.inspection    the facts of a model folder (`inspect_model_folder`)
    hub_cards.recipes       the training recipes a model card shows (`load_recipe`)
    hub_cards.licenses      the licence a repository's parts lead to (`resolve_license`)
    hub_cards.checks        the metadata checks (`check_model_card`, `check_dataset_card`, `check_space_card`)
    hub_cards.model_card    `render_model_card`, `render_converted_card`
    hub_cards.dataset_card  `render_dataset_card`
    hub_cards.space_card    `render_space_card`
    hub_cards.push          `llama-omni push model|dataset|space PATH --repo-id ORG/NAME [--dry-run DIR]`

The evaluation report a model card quotes follows the schema the evaluation owns (`evaluation.schema`, re-exported
here: `load_eval_report`, ...). The renderers and the checks import only huggingface_hub, jinja2, PyYAML and
safetensors (and `datasets` for dataset cards); building a model repository folder imports the model and processor
packages.
"""

from evaluation.schema import EVAL_METRICS, EvalReport, EvalReportError, load_eval_report, parse_eval_report

from .checks import check_dataset_card, check_model_card, check_space_card
from .dataset_card import render_dataset_card
from .inspection import inspect_model_folder
from .model_card import EVAL_FILE_NAME, render_converted_card, render_model_card
from .recipes import TrainingRecipe, load_recipe
from .rendering import CardError
from .space_card import render_space_card

__all__ = [
    "EVAL_FILE_NAME",
    "EVAL_METRICS",
    "CardError",
    "EvalReport",
    "EvalReportError",
    "TrainingRecipe",
    "check_dataset_card",
    "check_model_card",
    "check_space_card",
    "inspect_model_folder",
    "load_eval_report",
    "load_recipe",
    "parse_eval_report",
    "render_converted_card",
    "render_dataset_card",
    "render_model_card",
    "render_space_card",
]
