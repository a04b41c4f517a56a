"""The leaderboard's human state of the art: Prism's greedy KVPR placement (Algorithm 1 of
the Prism paper, without its tau threshold).

Take the models by weighted request rate (req_rate / slo), heaviest first, and put each
on the GPU where it fits whose current pressure (its weighted rate over its free memory)
is lowest; a model that fits nowhere fails the case.
"""

GPU_MEM_SIZE = 80  # GB


def compute_model_placement(gpu_num, models):
    placement = {gpu: [] for gpu in range(gpu_num)}
    free = [GPU_MEM_SIZE] * gpu_num
    weighted = [0.0] * gpu_num
    for model in sorted(models, key=lambda m: m.req_rate / m.slo, reverse=True):
        target = None
        lowest = float("inf")
        for gpu in range(gpu_num):
            if model.model_size <= free[gpu] and free[gpu] > 0:
                pressure = weighted[gpu] / free[gpu]
                if pressure < lowest:  # strict: the first GPU wins a tie
                    lowest, target = pressure, gpu
        if target is None:
            raise ValueError(f"{model.model_name} ({model.model_size} GB) fits on no GPU")
        placement[target].append(model)
        free[target] -= model.model_size
        weighted[target] += model.req_rate / model.slo
    return placement
