"""braintune from Python: submit and follow brain-tuning jobs on a braintune coordinator, read
their results and evaluations, and summarise datasets.

    import braintune
    client = braintune.Client()                 # the CLI's environment: BRAINTUNE_COORDINATOR, ...
    job = client.wait(client.submit("configs/quickstart.yaml").id)
    ev = braintune.load_evaluation(".quickstart/eval")
    ev.roi_scores()                             # a pandas DataFrame: model, layer, roi, mean, sem, n

docs/python.md has the whole API; docs/python-quickstart.ipynb is a notebook that runs the
quickstart and plots its evaluation.
"""
from braintune.client import BraintuneError, Client, JobFailed, as_dict, state_name
from braintune.dataset import Dataset, open_dataset
from braintune.results import Evaluation, load_evaluation, load_result

__all__ = ["Client", "BraintuneError", "JobFailed", "as_dict", "state_name", "load_result", "load_evaluation",
           "Evaluation", "open_dataset", "Dataset"]
__version__ = "0.1.0"
