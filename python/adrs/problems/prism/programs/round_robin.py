"""Round robin: model j on GPU j % gpu_num, the leaderboard's 0-point reference."""


def compute_model_placement(gpu_num, models):
    placement = {gpu: [] for gpu in range(gpu_num)}
    for index, model in enumerate(models):
        placement[index % gpu_num].append(model)
    return placement
