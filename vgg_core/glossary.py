"""What each nvidia-smi field means, in English and Chinese, for the UI's tooltips and the CLI's help.

Keys are the snapshot's keys (``vgg_core.gpu``): per-GPU fields, ``processes.<field>`` for a process
row, the snapshot's header fields, and ``host.<field>`` for the host figures. ``label`` is the column
nvidia-smi prints. The Chinese follows the seed document's field guide; where that guide is loose
(Uncorr. ECC, Compute M.) both languages say what NVML actually reports.
"""

from __future__ import annotations

GLOSSARY: dict[str, dict[str, str]] = {
    # ---- header ----
    "driver_version": {
        "label": "Driver Version",
        "en": "Version of the NVIDIA kernel driver; NVML and nvidia-smi come with it.",
        "zh": "NVIDIA 显卡驱动的版本号；NVML 和 nvidia-smi 都随驱动一起安装。",
    },
    "cuda_version": {
        "label": "CUDA Version",
        "en": "Newest CUDA version this driver supports (not necessarily the CUDA toolkit PyTorch was built with).",
        "zh": "该驱动所能支持的最高 CUDA 版本（不一定是 PyTorch 编译时所用的 CUDA 版本）。",
    },
    # ---- one GPU ----
    "index": {
        "label": "GPU",
        "en": "The GPU's number on this machine; with several cards they are numbered from 0.",
        "zh": "本机中的 GPU 编号（有多块显卡的时候，从 0 开始编号）。",
    },
    "name": {
        "label": "Name",
        "en": "The GPU's model, e.g. NVIDIA H100 80GB HBM3.",
        "zh": "GPU 的型号（类型），例如 NVIDIA H100 80GB HBM3。",
    },
    "fan_percent": {
        "label": "Fan",
        "en": "Fan speed as a percentage of its maximum (0%–100%); N/A means the card has no fan of its own "
        "(data-centre cards are cooled by the server).",
        "zh": "风扇转速（0%–100%）；N/A 表示没有风扇（数据中心显卡由服务器机箱散热）。",
    },
    "temperature_c": {
        "label": "Temp",
        "en": "GPU core temperature in °C. A GPU that runs too hot lowers its clock (thermal throttling), "
        "so training slows down.",
        "zh": "GPU 的温度（摄氏度）。GPU 温度过高会导致 GPU 的频率下降，训练随之变慢。",
    },
    "performance_state": {
        "label": "Perf",
        "en": "Performance state, from P0 (maximum performance) to P12 (minimum performance). "
        "An idle card drops to a high P-number; under load it climbs back to P0–P2.",
        "zh": "GPU 的性能状态，从 P0（最大性能）到 P12（最小性能）。空闲时降到较大的 P 值，"
        "负载时回到 P0–P2。",
    },
    "persistence_mode": {
        "label": "Persistence-M",
        "en": "Persistence mode: when On, the driver stays loaded with no GPU program running. It draws more "
        "power, but a new GPU program starts faster.",
        "zh": "持续模式的状态（On/Off）。持续模式虽然耗能大，但是在新的 GPU 应用启动时花费的时间更少。",
    },
    "power_draw_w": {
        "label": "Pwr:Usage",
        "en": "Power the whole board draws now, in watts (on recent GPUs averaged over one second): the "
        "'Usage' half of Pwr:Usage/Cap.",
        "zh": "能耗表示中的 Usage：整块显卡当前用了多少功率（瓦特，新款 GPU 为 1 秒内的平均值）。",
    },
    "power_limit_w": {
        "label": "Pwr:Cap",
        "en": "The power cap in watts: the most the board may draw; the 'Cap' half of Pwr:Usage/Cap. Near "
        "the cap, the GPU lowers its clock.",
        "zh": "能耗表示中的 Cap：总共允许用多少功率（功率上限，瓦特）。接近上限时 GPU 会降频。",
    },
    "bus_id": {
        "label": "Bus-Id",
        "en": "Where the GPU sits on the PCI bus, as domain:bus:device.function.",
        "zh": "GPU 总线相关显示，格式为 domain:bus:device.function（PCI 总线地址）。",
    },
    "display_active": {
        "label": "Disp.A",
        "en": "Display Active: whether a display is initialised on this GPU (a monitor attached and in use).",
        "zh": "Display Active，表示 GPU 的显示是否初始化（是否接了显示器并在输出画面）。",
    },
    "memory_used_mib": {
        "label": "Memory-Usage (used)",
        "en": "GPU memory in use, in MiB: how much of the card's own memory programs hold (weights, "
        "activations, PyTorch's cache). This is not how busy the GPU is: see GPU-Util.",
        "zh": "显存使用量（MiB）：各程序占用的显卡自带显存（权重、激活值、PyTorch 的缓存等）。"
        "显存占用不等于 GPU 使用率，参见 GPU-Util。",
    },
    "memory_total_mib": {
        "label": "Memory-Usage (total)",
        "en": "Total GPU memory in MiB; Memory-Usage shows used / total.",
        "zh": "显存总量（MiB）；Memory-Usage 一栏显示“已用 / 总量”。",
    },
    "utilization_percent": {
        "label": "GPU-Util",
        "en": "GPU utilisation: the share of the last sample period (1/6 s to 1 s) during which at least "
        "one kernel was running on the GPU. It says how busy the GPU is, not how much memory is used; "
        "a low figure while training often means the GPU is waiting for data.",
        "zh": "GPU 使用率：在最近一个采样周期（1/6 秒到 1 秒）内，GPU 上至少有一个核函数在运行的时间占比。"
        "它表示 GPU 有多忙，而不是显存用了多少；训练时数值偏低，往往说明 GPU 在等数据。",
    },
    "ecc_enabled": {
        "label": "ECC",
        "en": "Whether ECC (error checking and correction of GPU memory) is enabled; N/A on cards without ECC.",
        "zh": "是否开启 ECC（显存错误检查和纠正技术）；不支持 ECC 的显卡显示 N/A。",
    },
    "ecc_uncorrected": {
        "label": "Volatile Uncorr. ECC",
        "en": "Memory errors that ECC detected but could not correct since the driver was last loaded "
        "('Volatile' in nvidia-smi's header belongs to this counter). 0 is healthy; N/A when the card has "
        "no ECC or ECC is off.",
        "zh": "关于 ECC（错误检查和纠正）的计数：自驱动上次加载以来，ECC 发现但无法纠正的显存错误个数"
        "（nvidia-smi 表头中的 Volatile 指的就是这个计数）。0 表示正常；显卡不支持或未开启 ECC 时为 N/A。",
    },
    "compute_mode": {
        "label": "Compute M.",
        "en": "Compute mode: Default (any number of processes may share the GPU), Exclusive Process (one "
        "process at a time), Prohibited (no compute process allowed); Exclusive Thread is obsolete. "
        "nvidia-smi -c sets it as 0/DEFAULT, 1/EXCLUSIVE_PROCESS, 2/PROHIBITED.",
        "zh": "计算模式：Default（默认，多个进程可同时使用）、Exclusive Process（同一时间只允许一个进程）、"
        "Prohibited（禁止任何计算进程）；Exclusive Thread 已废弃。用 nvidia-smi -c 设置时为 "
        "0/DEFAULT，1/EXCLUSIVE_PROCESS，2/PROHIBITED。",
    },
    "processes": {
        "label": "Processes",
        "en": "The processes using this GPU: process ID, name, type and the GPU memory each one holds.",
        "zh": "显示每个进程占用的显存、进程号，以及占用的是哪块 GPU。",
    },
    "lost": {
        "label": "GPU lost",
        "en": "NVML can no longer reach this GPU (it fell off the bus or stopped answering); the other "
        "GPUs still report. A reset or a reboot is usually needed.",
        "zh": "NVML 已无法访问这块 GPU（从总线上掉线或不再响应），其他 GPU 仍正常显示。通常需要重置或重启。",
    },
    # ---- one process ----
    "processes.pid": {
        "label": "PID",
        "en": "Process ID of the program using the GPU.",
        "zh": "使用该 GPU 的进程的进程号。",
    },
    "processes.name": {
        "label": "Process name",
        "en": "The program's name or path; N/A when it runs where this machine cannot see it (another container).",
        "zh": "进程的名称或路径；若进程不在本机可见范围内（例如在另一个容器中）则为 N/A。",
    },
    "processes.used_memory_mib": {
        "label": "GPU Memory Usage",
        "en": "GPU memory this process holds, in MiB; N/A where the driver does not report it.",
        "zh": "该进程占用的显存（MiB）；驱动不提供该数值时为 N/A。",
    },
    "processes.type": {
        "label": "Type",
        "en": "C: a compute program (CUDA, e.g. PyTorch training); G: a graphics program; C+G: both.",
        "zh": "C：计算进程（CUDA，例如 PyTorch 训练）；G：图形进程；C+G：两者兼有。",
    },
    # ---- host ----
    "host.cpu_percent": {
        "label": "CPU",
        "en": "Host CPU use since the previous reading, averaged over all cores.",
        "zh": "主机 CPU 使用率（自上次读取以来，所有核心的平均值）。",
    },
    "host.cpu_count": {
        "label": "CPU cores",
        "en": "Logical CPU cores of the host.",
        "zh": "主机的逻辑 CPU 核心数。",
    },
    "host.ram_used_mib": {
        "label": "RAM used",
        "en": "Host memory in use (total minus what is available to new programs), in MiB. RAM is to the "
        "CPU what GPU memory is to the GPU.",
        "zh": "主机内存已用量（总量减去可供新程序使用的部分，MiB）。内存之于 CPU，正如显存之于 GPU。",
    },
    "host.ram_total_mib": {
        "label": "RAM total",
        "en": "Host memory in all, in MiB.",
        "zh": "主机内存总量（MiB）。",
    },
    "host.ram_percent": {
        "label": "RAM %",
        "en": "Host memory in use, as a percentage of the total.",
        "zh": "主机内存使用率（占总量的百分比）。",
    },
}

# The seed's closing point: memory use and GPU utilisation are different things.
NOTE = {
    "en": "GPU memory use and GPU utilisation are two different things. A graphics card is made of the GPU, "
    "its memory and more; GPU memory is to the GPU roughly what RAM is to the CPU. One program can fill the "
    "memory and barely keep the GPU busy, another the other way round: Caffe code tends to use little "
    "memory and much GPU, TensorFlow code much memory (it reserves most of it up front) and little GPU.",
    "zh": "显存占用和 GPU 占用是两个不一样的东西。显卡是由 GPU 和显存等组成的，显存和 GPU 的关系有点类似于"
    "内存和 CPU 的关系。跑 caffe 代码的时候显存占得少，GPU 占得多；跑 TensorFlow 代码的时候，显存占得多，"
    "GPU 占得少。",
}

NA = {"en": "N/A: not supported by this GPU or driver.", "zh": "N/A：该 GPU 或驱动不支持此项。"}

LANGUAGES = ("en", "zh")


def explain(key: str, lang: str = "en") -> str:
    """The tooltip for one field; raises KeyError naming what is known, so a typo shows at once."""
    if lang not in LANGUAGES:
        raise KeyError(f"unknown language {lang!r}; allowed: {', '.join(LANGUAGES)}")
    if key not in GLOSSARY:
        raise KeyError(f"no glossary entry for {key!r}")
    return GLOSSARY[key][lang]


def label(key: str) -> str:
    return GLOSSARY[key]["label"]


__all__ = ["GLOSSARY", "NOTE", "NA", "LANGUAGES", "explain", "label"]
