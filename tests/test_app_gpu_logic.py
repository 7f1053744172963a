"""The GPU page and the compact GPU panel through AppTest, on the pynvml stand-in and on this machine.

AppTest runs each fragment once per script run and never runs its timer; the live refresh is
tested in the browser (test_app_gpu_browser.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import fake_pynvml as fake
import psutil
import pytest
from fake_pynvml import GIB, MIB, FakeGpu
from streamlit.testing.v1 import AppTest

from live_run import live_tiny_run
from pages import gpu_training, gpu_views, i18n
from vgg_core import gpu
from vgg_core import gpu_history
from vgg_core.glossary import explain, label, na, note, util_note
from vgg_core.resources import LiveProcess

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(300)
NOT_SUPPORTED = fake.NVML_ERROR_NOT_SUPPORTED
PID_A, PID_B = 90_000_001, 90_000_002  # far above pid_max: psutil can never name a real process
TABLE_HEADERS = [label(k) for k in gpu_views.TABLE_FIELDS]
DETAIL_HEADERS = [label(k) for k in gpu_views.DETAIL_FIELDS]
TRAINING_KEYS = ("gpu.training.pid", "gpu.training.rank", "gpu.training.cpu", "gpu.training.rss",
                 "gpu.training.time", "gpu.training.run", "gpu.training.name")


@pytest.fixture(autouse=True)
def runs(tmp_path, monkeypatch):
    """The page's runs folder: an empty one of this test's own (the training processes are read from it)."""
    folder = tmp_path / "runs"
    folder.mkdir()
    monkeypatch.setenv("VGG_RUNS_DIR", str(folder))
    return folder


@pytest.fixture
def fake_nvml(monkeypatch):
    """The stand-in as vgg_core.gpu's binding, NVML state forgotten before and after."""
    fake.configure()
    gpu.shutdown()
    monkeypatch.setattr(gpu, "_import_pynvml", lambda: fake)
    yield fake
    gpu.shutdown()


def gpu_page(lang: str = "en") -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if lang != "en":
        at.query_params["lang"] = lang
    at.switch_page("pages/gpu.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str, nth: int = 0):
    found = [m for m in at.metric if m.label == label]
    assert len(found) > nth, (label, [m.label for m in at.metric])
    return found[nth]


def gpu_table(at: AppTest):
    found = [d.value for d in at.dataframe if list(d.value.columns) == TABLE_HEADERS]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def process_table(at: AppTest):
    found = [d.value for d in at.dataframe if "PID" in d.value.columns]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def chart_specs(at: AppTest) -> list[str]:
    return [c.proto.spec for c in at.get("plotly_chart")]


FULL = dict(
    name="NVIDIA H100 80GB HBM3", fan=41, temperature=67, pstate=2, persistence=fake.NVML_FEATURE_ENABLED,
    power_mw=312_456, limit_mw=700_000, bus_id="00000000:19:00.0", display=fake.NVML_FEATURE_DISABLED,
    total=85_520_809_984, used=4_321 * MIB + 12345, util_gpu=88, ecc_mode=fake.NVML_FEATURE_ENABLED,
    ecc_uncorrected_volatile=3, compute_mode=fake.NVML_COMPUTEMODE_EXCLUSIVE_PROCESS,
    compute_procs=[(PID_A, 3 * GIB + 5), (PID_B, None)], graphics_procs=[(PID_A, 3 * GIB + 5)],
    process_util=[(PID_A, 77)],
)


def test_one_gpu_every_field_with_tooltips(fake_nvml):
    fake.configure(gpus=[FakeGpu(**FULL)], driver_version="550.54.15", cuda_version=12040,
                   process_names={PID_A: "/usr/bin/python3"})
    at = gpu_page()
    assert metric(at, "Driver Version").value == "550.54.15"
    assert metric(at, "CUDA Version").value == "12.4"
    assert metric(at, "GPUs").value == "1"
    util, mem, temp, power = (metric(at, k) for k in ("GPU-Util", "Memory used", "Temperature", "Power draw"))
    assert (util.value, mem.value, temp.value, power.value) == ("88%", "4,321 MiB", "67 °C", "312 W")
    assert util.proto.help == explain("utilization_percent", "en")
    assert mem.proto.help == explain("memory_used_mib", "en")
    assert "of 81,559 MiB (5%)" in captions(at) and "cap 700 W (45%)" in captions(at)

    # nvidia-smi's table: every field but the processes, in its order, one row.
    df = gpu_table(at)
    assert len(df) == 1
    assert df.iloc[0].tolist() == [
        "0", "NVIDIA H100 80GB HBM3", "41%", "67 °C", "P2", "On", "312 W", "700 W", "00000000:19:00.0", "Off",
        "4,321 MiB", "81,559 MiB", "88%", "On", "3", "Exclusive Process",
    ]
    assert "N/A, as NVML answered" not in captions(at)

    # Processes: compute and graphics merged by pid; a missing figure or name is N/A; the SM share of
    # a process without a sample in the last second is 0 (NVML lists only those that ran a kernel).
    procs = process_table(at)
    assert list(procs.columns) == ["GPU", "PID", "Type", "GPU Memory Usage", "SM %", "Process name"]
    assert procs.values.tolist() == [
        ["0", str(PID_A), "C+G", "3,072 MiB", "77%", "/usr/bin/python3"],
        ["0", str(PID_B), "C", "N/A", "0%", "N/A"],
    ]
    # Both history charts of the GPU and the host's are drawn, with this sample in them.
    specs = chart_specs(at)
    assert len(specs) == 6
    assert any('"y":[88]' in s for s in specs) and any('"y":[4321]' in s for s in specs)
    assert any('"y":[67]' in s for s in specs) and any("312.456" in s for s in specs)


def test_table_column_tooltips_are_the_glossary(fake_nvml):
    fake.configure(gpus=[FakeGpu(**FULL)])
    at = gpu_page()
    df_el = [d for d in at.dataframe if list(d.value.columns) == TABLE_HEADERS][0]
    config = json.loads(df_el.proto.columns)  # st.column_config, as sent to the browser
    for key in gpu_views.TABLE_FIELDS:
        header = label(key)
        assert config[header]["help"] == explain(key, "en"), key


def test_mixed_na_fields_show_na_with_nvmls_reason(fake_nvml):
    errors = {
        "nvmlDeviceGetFanSpeed": NOT_SUPPORTED,
        "nvmlDeviceGetPowerUsage": NOT_SUPPORTED,
        "nvmlDeviceGetComputeRunningProcesses": NOT_SUPPORTED,
        "nvmlDeviceGetGraphicsRunningProcesses": NOT_SUPPORTED,
        "nvmlDeviceGetTemperature": fake.NVML_ERROR_NO_PERMISSION,
    }
    fake.configure(gpus=[FakeGpu(**{**FULL, "errors": errors, "ecc_mode": fake.NVML_FEATURE_DISABLED})])
    at = gpu_page()
    row = dict(zip(TABLE_HEADERS, gpu_table(at).iloc[0].tolist()))
    assert row["Fan"] == row["Pwr:Usage"] == row["Temp"] == row["Volatile Uncorr. ECC"] == "N/A"
    assert row["ECC"] == "Off" and row["Pwr:Cap"] == "700 W" and row["GPU-Util"] == "88%"
    assert row["Memory-Usage (used)"] == "4,321 MiB" and row["Name"] == "NVIDIA H100 80GB HBM3"
    power, temp = metric(at, "Power draw"), metric(at, "Temperature")
    assert power.value == temp.value == "N/A"
    assert power.proto.help.startswith(explain("power_draw_w", "en"))
    assert na("en") in power.proto.help and "Not Supported" in power.proto.help
    assert "Insufficient Permissions" in temp.proto.help
    text = captions(at)
    assert "GPU 0 Fan: Not Supported" in text and "GPU 0 Temp: Insufficient Permissions" in text
    assert "GPU 0 Volatile Uncorr. ECC: ECC is disabled" in text
    assert "does not list the processes on GPU 0 (NVML: Not Supported)" in text
    assert not [d for d in at.dataframe if "PID" in d.value.columns]
    assert "No process is using the GPU now." in text


def test_everything_unsupported_is_all_na_and_no_exception(fake_nvml):
    every = [n for n in dir(fake) if n.startswith("nvmlDeviceGet") and n != "nvmlDeviceGetHandleByIndex"
             and n != "nvmlDeviceGetCount"]
    fake.configure(gpus=[FakeGpu(errors={n: NOT_SUPPORTED for n in every})])
    at = gpu_page()
    row = gpu_table(at).iloc[0].tolist()
    assert row[0] == "0" and set(row[1:]) == {"N/A"}
    assert {metric(at, k).value for k in ("GPU-Util", "Memory used", "Temperature", "Power draw")} == {"N/A"}


@pytest.mark.parametrize("where", [True, "query"])
def test_two_gpus_one_lost(fake_nvml, where):
    fake.configure(gpus=[FakeGpu(name="A", util_gpu=12), FakeGpu(name="B", lost=where, bus_id="00000000:3B:00.0")])
    at = gpu_page()
    errors = [e.value for e in at.error]
    assert len(errors) == 1
    assert errors[0] == f"GPU 1: {explain('lost', 'en')} (NVML: GPU is lost)"
    df = gpu_table(at)
    assert df["GPU"].tolist() == ["0"] and df["Name"].tolist() == ["A"]
    assert metric(at, "GPU-Util").value == "12%"
    assert len([m for m in at.metric if m.label == "GPU-Util"]) == 1
    assert metric(at, "GPUs").value == "2"


def test_two_working_gpus_each_a_card_a_row_and_a_line(fake_nvml):
    fake.configure(gpus=[FakeGpu(name="A", util_gpu=10), FakeGpu(name="B", util_gpu=20, bus_id="00000000:3B:00.0")])
    at = gpu_page()
    assert [m.value for m in at.metric if m.label == "GPU-Util"] == ["10%", "20%"]
    assert gpu_table(at)["Bus-Id"].tolist() == ["00000000:19:00.0", "00000000:3B:00.0"]
    util_chart = [s for s in chart_specs(at) if "GPU-Util (%)" in s][0]
    assert '"name":"GPU 0"' in util_chart and '"name":"GPU 1"' in util_chart


def test_no_gpu_shows_the_reason_and_host_figures(fake_nvml):
    fake.configure(init_error=fake.NVML_ERROR_LIBRARY_NOT_FOUND)
    at = gpu_page()
    assert [w.value for w in at.warning] == [
        "No NVIDIA GPU to show. No NVIDIA driver found (the NVML library could not be loaded): "
        "showing host CPU and RAM only"
    ]
    assert not at.error and not [m for m in at.metric if m.label == "GPU-Util"]
    check_host_figures(at)
    specs = chart_specs(at)
    assert len(specs) == 2 and "Host CPU (%)" in specs[0] and "Host RAM used (GiB)" in specs[1]


def check_host_figures(at: AppTest) -> None:
    """The host metrics agree with psutil on this machine (cores and total RAM are fixed)."""
    cpu = metric(at, "CPU")
    assert cpu.proto.help == explain("host.cpu_percent", "en")
    assert re.fullmatch(r"\d{1,3}\.\d%", cpu.value) and 0 <= float(cpu.value[:-1]) <= 100
    ram = metric(at, "RAM used")
    used = float(ram.value.removesuffix(" GiB"))
    total = psutil.virtual_memory().total / 1024**3
    assert 0 < used < total
    text = captions(at)
    assert f"average over {psutil.cpu_count()} cores" in text
    assert f"of {total:.1f} GiB" in text


@pytest.fixture
def real_nvml():
    gpu.shutdown()
    yield
    gpu.shutdown()


def test_the_real_module_on_this_machine(real_nvml):
    """No stand-in: what this machine's NVML (or its absence) says is what the page shows."""
    expected = gpu.snapshot()
    at = gpu_page()
    if expected.available:
        assert len([m for m in at.metric if m.label == "GPU-Util"]) == len(gpu_history.working(expected))
    else:
        assert [w.value for w in at.warning] == [f"No NVIDIA GPU to show. {expected.reason}"]
        check_host_figures(at)


def test_chinese_labels_tooltips_and_glossary(fake_nvml):
    fake.configure(gpus=[FakeGpu(**FULL)])
    at = gpu_page("zh")
    assert at.title[0].value == i18n.ZH["gpu.title"]
    util = metric(at, i18n.ZH["gpu.card.util"])
    assert util.value == "88%" and util.proto.help == explain("utilization_percent", "zh")
    assert metric(at, i18n.ZH["gpu.driver"]).proto.help == explain("driver_version", "zh")
    # The expander: the memory-versus-utilisation note first, then every field in Chinese.
    assert at.expander[0].label == i18n.ZH["gpu.glossary"]
    assert at.expander[0].info[0].value == note("zh")
    glossary = "\n".join(m.value for m in at.expander[0].markdown)
    for key in (*gpu.GPU_FIELDS, "driver_version", "cuda_version", "processes.type", "host.ram_used_mib"):
        assert explain(key, "zh") in glossary, key
    assert explain("utilization_percent", "en") not in glossary


def test_switching_the_language_in_the_session(fake_nvml):
    fake.configure(init_error=fake.NVML_ERROR_DRIVER_NOT_LOADED)
    at = gpu_page()
    assert at.expander[0].info[0].value == note("en")
    assert metric(at, "CPU").proto.help == explain("host.cpu_percent", "en")
    at.sidebar.radio(key="lang").set_value("zh").run()
    assert not at.exception
    assert at.expander[0].info[0].value == note("zh")
    cpu = metric(at, i18n.ZH["gpu.host.cpu"])
    assert cpu.proto.help == explain("host.cpu_percent", "zh")
    assert at.warning[0].value.startswith(i18n.ZH["gpu.none"].split("{")[0])
    assert "NVIDIA 驱动没有加载（NVML: Driver Not Loaded）：只显示主机的 CPU 和内存" in at.warning[0].value
    assert "更新于" in captions(at)


def test_history_grows_per_sample_and_pause_says_so(fake_nvml):
    fake.configure(gpus=[FakeGpu(util_gpu=30)])
    at = gpu_page()
    assert re.search(r"Updated \d\d:\d\d:\d\d · 1 readings? since", captions(at))
    fake.machine.gpus[0].util_gpu = 55
    at.run()
    fake.machine.gpus[0].util_gpu = 70
    at.run()
    assert not at.exception
    assert re.search(r"· 3 readings since", captions(at))
    util_chart = [s for s in chart_specs(at) if "GPU-Util (%)" in s][0]
    assert '"y":[30,55,70]' in util_chart
    at.radio(key="gpu_refresh").set_value("pause").run()
    assert re.search(r"Paused at \d\d:\d\d:\d\d · 4 readings since", captions(at))


def test_a_later_visit_starts_a_fresh_history(fake_nvml):
    fake.configure(gpus=[FakeGpu()])
    at = gpu_page()
    at.run()
    assert "· 2 readings" in captions(at)
    h = at.session_state["panel.histories"].by_panel["gpu_page"]
    for s in h.samples:  # as if the page was left a minute ago
        s["t"] -= 60
    h.opened -= 60
    at.run()
    assert re.search(r"· 1 readings? since", captions(at))


# ---- the compact panel, as the Train page uses it ----------------------------------------


def compact_script(device_index=None) -> None:
    import streamlit as st

    from pages import gpu_panel

    @st.fragment(run_every=1)
    def beside_the_charts() -> None:
        st.line_chart([1, 2, 3])  # the Train page's own live charts
        gpu_panel.compact_panel(device_index, key="train_gpu")

    beside_the_charts()


def compact(device_index=None, lang: str = "en") -> AppTest:
    at = AppTest.from_function(compact_script, args=(device_index,), default_timeout=60)
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_compact_panel_one_gpu_with_sparklines(fake_nvml):
    fake.configure(gpus=[FakeGpu(**FULL), FakeGpu(name="Other", util_gpu=5, bus_id="00000000:3B:00.0")])
    at = compact(0)
    assert [m.label for m in at.metric] == ["GPU-Util", "Memory used", "Temperature", "Power draw"]
    assert [m.value for m in at.metric] == ["88%", "4,321 MiB", "67 °C", "312 W"]
    assert at.metric[1].proto.delta == "of 81,559 MiB (5%)" and at.metric[3].proto.delta == "cap 700 W (45%)"
    assert at.metric[0].proto.help == explain("utilization_percent", "en")
    fake.machine.gpus[0].util_gpu = 40
    at.run()
    assert list(at.metric[0].proto.chart_data) == [88.0, 40.0]
    assert "Live figures" in captions(at)


def test_compact_panel_every_gpu_and_a_missing_index(fake_nvml):
    fake.configure(gpus=[FakeGpu(util_gpu=1), FakeGpu(util_gpu=2), FakeGpu(lost=True)])
    at = compact(None)
    assert [m.value for m in at.metric if m.label == "GPU-Util"] == ["1%", "2%"]
    assert len(at.error) == 1 and "GPU is lost" in at.error[0].value
    at = compact(7)
    assert at.warning[0].value == "There is no GPU 7 here (GPUs: 0, 1, 2)."


@pytest.mark.parametrize("bus", ["00000000:3B:00.0", "0000:3b:00.0", "3b:00.0"])
def test_compact_panel_picks_the_gpu_by_its_pci_address(fake_nvml, bus):
    """CUDA's numbering may differ from NVML's; the PCI address torch reports names the GPU for sure."""
    fake.configure(gpus=[FakeGpu(util_gpu=11), FakeGpu(util_gpu=22, bus_id="00000000:3B:00.0")])
    at = compact_by_bus(bus)
    assert [m.value for m in at.metric if m.label == "GPU-Util"] == ["22%"]
    assert at.markdown[0].value.startswith("**GPU 1**")


def test_compact_panel_unknown_pci_address(fake_nvml):
    fake.configure(gpus=[FakeGpu()])
    at = compact_by_bus("0000:99:00.0")
    assert at.warning[0].value == "There is no GPU 0000:99:00.0 here (GPUs: 00000000:19:00.0)."


def compact_by_bus(bus: str) -> AppTest:
    def script(bus_id: str) -> None:
        from pages import gpu_panel

        gpu_panel.compact_panel(bus_id=bus_id, key="by_bus")

    at = AppTest.from_function(script, args=(bus,), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_pci_addresses_in_every_spelling():
    assert gpu_history.same_pci("00000000:19:00.0", "0000:19:00.0")
    assert gpu_history.same_pci("00000000:3B:00.0", "3b:00.0")
    assert not gpu_history.same_pci("00000000:19:00.0", "00000000:19:00.1")
    assert not gpu_history.same_pci("00000001:19:00.0", "0000:19:00.0")
    assert not gpu_history.same_pci(None, None) and not gpu_history.same_pci("garbage", "garbage")


def test_compact_panel_without_a_gpu_in_chinese(fake_nvml):
    fake.configure(init_error=fake.NVML_ERROR_LIBRARY_NOT_FOUND)
    at = compact(0, "zh")
    assert "没有 GPU：没有找到 NVIDIA 驱动（无法加载 NVML 库）：只显示主机的 CPU 和内存" in captions(at)
    cpu, ram = at.metric
    assert cpu.label == i18n.ZH["gpu.host.cpu"] and cpu.proto.help == explain("host.cpu_percent", "zh")
    assert ram.value.endswith(" GiB") and f"{psutil.virtual_memory().total / 1024**3:.1f} GiB" in ram.proto.delta


def own_timer_script() -> None:
    import streamlit as st

    from pages import gpu_panel

    if st.session_state.get("new_run"):  # as the Train page would when a new run starts
        st.session_state["new_run"] = False
        gpu_panel.clear_history("side")
    gpu_panel.live_compact_panel(every=1, key="side")
    gpu_panel.live_compact_panel(every=1, key="other")


def test_live_compact_panel_in_its_own_fragment_and_a_fresh_start(fake_nvml):
    fake.configure(gpus=[FakeGpu(util_gpu=3)])
    at = AppTest.from_function(own_timer_script, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.value for m in at.metric if m.label == "GPU-Util"] == ["3%", "3%"]  # two panels, two histories
    fake.machine.gpus[0].util_gpu = 4
    at.run()
    assert list(at.metric[0].proto.chart_data) == [3.0, 4.0]
    at.session_state["new_run"] = True
    at.run()
    assert not at.exception
    assert list(at.metric[0].proto.chart_data) == [4.0]  # cleared, then this run's reading
    assert list(at.metric[4].proto.chart_data) == [3.0, 4.0, 4.0]  # the other panel kept its own


# ---- the pure parts -----------------------------------------------------------------------


def test_history_breaks_lines_at_gaps_and_stays_bounded(fake_nvml):
    fake.configure(gpus=[FakeGpu(util_gpu=9)])
    h = gpu_history.History(opened=0.0)
    snap = gpu.snapshot()
    for ts in (100.0, 101.0, 102.0, 200.0, 201.0):
        snap.timestamp = ts
        h.add(snap)
    h.add(snap)  # the same snapshot twice is one sample
    x, y = h.series(gpu_history.gpu_value(0, "util"), gap=4.0)
    assert y == [9, 9, 9, None, 9, 9] and len(x) == 6
    for ts in range(1000, 1000 + 2 * gpu_history.HISTORY_LEN):
        snap.timestamp = float(ts)
        h.add(snap)
    assert len(h.samples) == gpu_history.HISTORY_LEN and h.last == 999.0 + 2 * gpu_history.HISTORY_LEN
    assert h.count == 5 + 2 * gpu_history.HISTORY_LEN  # the caption's count goes on past the window


# ---- beyond nvidia-smi's table: clocks, clock limits, PCIe, each process's SM share ----------


def dataframe_el(at: AppTest, headers: list[str]):
    found = [d for d in at.dataframe if list(d.value.columns) == headers]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def column_help(el) -> dict[str, str]:
    """Each column's tooltip as sent to the browser."""
    return {name: c.get("help") for name, c in json.loads(el.proto.columns).items() if name != "_index"}


def limits_line(at: AppTest):
    found = [m for m in at.markdown if m.value.startswith(("**Clock limits now**", "**当前的频率限制**"))]
    assert len(found) == 1, [m.value for m in at.markdown]
    return found[0]


POWER_AND_HEAT = fake.nvmlClocksEventReasonSwPowerCap | fake.nvmlClocksEventReasonHwThermalSlowdown


def test_clocks_pcie_and_clock_limits_with_glossary_tooltips(fake_nvml):
    fake.configure(gpus=[FakeGpu(**{**FULL, "clock_reasons": POWER_AND_HEAT}),
                         FakeGpu(name="B", bus_id="00000000:3B:00.0", sm_clock=345, mem_clock=1_593, pcie_tx=0,
                                 pcie_rx=7, clock_reasons=0)])
    at = gpu_page()
    details = dataframe_el(at, DETAIL_HEADERS)
    assert details.value.values.tolist() == [
        ["0", "1,980 MHz", "2,619 MHz", "12,345 KB/s", "67,890 KB/s"],
        ["1", "345 MHz", "1,593 MHz", "0 KB/s", "7 KB/s"],
    ]
    assert column_help(details) == {label(k): explain(k, "en") for k in gpu_views.DETAIL_FIELDS}
    # The clock limits in words, each GPU's; nothing holding the clocks down reads "none".
    line = limits_line(at)
    assert line.value == "**Clock limits now**: GPU 0: power cap, thermal slowdown (hardware) · GPU 1: none"
    assert line.proto.help == explain("throttle_reasons", "en")
    # Each process's SM share, with the glossary's words on its header.
    assert column_help(dataframe_el(at, list(process_table(at).columns)))["SM %"] == explain("processes.sm_percent", "en")
    # GPU-Util means a kernel ran, not a full GPU: said once, under the cards.
    assert captions(at).count(util_note("en")) == 1
    assert "N/A, as NVML answered" not in captions(at)


def test_beyond_the_table_na_fields_keep_nvmls_reason(fake_nvml):
    errors = {
        "nvmlDeviceGetClockInfo": NOT_SUPPORTED,
        "nvmlDeviceGetPcieThroughput": fake.NVML_ERROR_NO_PERMISSION,
        "nvmlDeviceGetCurrentClocksEventReasons": NOT_SUPPORTED,
        "nvmlDeviceGetProcessUtilization": NOT_SUPPORTED,
    }
    fake.configure(gpus=[FakeGpu(**{**FULL, "errors": errors})])
    at = gpu_page()
    details = dataframe_el(at, DETAIL_HEADERS)
    assert details.value.values.tolist() == [["0", "N/A", "N/A", "N/A", "N/A"]]
    tips = column_help(details)
    for key, why in (("sm_clock_mhz", "Not Supported"), ("memory_clock_mhz", "Not Supported"),
                     ("pcie_tx_kb_s", "Insufficient Permissions"), ("pcie_rx_kb_s", "Insufficient Permissions")):
        assert tips[label(key)] == f"{explain(key, 'en')}\n\n{na('en')} (NVML: {why})", key
    line = limits_line(at)
    assert line.value == "**Clock limits now**: N/A"
    assert line.proto.help == f"{explain('throttle_reasons', 'en')}\n\n{na('en')} (NVML: Not Supported)"
    procs = process_table(at)
    assert procs["SM %"].tolist() == ["N/A", "N/A"] and procs["GPU Memory Usage"].tolist() == ["3,072 MiB", "N/A"]
    sm_tip = column_help(dataframe_el(at, list(procs.columns)))["SM %"]
    assert sm_tip.startswith(explain("processes.sm_percent", "en")) and "(NVML: Not Supported)" in sm_tip
    text = captions(at)
    for item in ("GPU 0 SM clock: Not Supported", "GPU 0 PCIe TX: Insufficient Permissions",
                 "GPU 0 Clock limits: Not Supported", "GPU 0 SM %: Not Supported"):
        assert item in text, item


def test_clock_limits_and_the_util_note_in_chinese(fake_nvml):
    fake.configure(gpus=[FakeGpu(**{**FULL, "clock_reasons": POWER_AND_HEAT | fake.nvmlClocksEventReasonGpuIdle})])
    at = gpu_page("zh")
    line = limits_line(at)
    assert line.value == "**当前的频率限制**：空闲、功耗上限、过热降频（硬件）"
    assert line.proto.help == explain("throttle_reasons", "zh")
    assert column_help(dataframe_el(at, DETAIL_HEADERS)) == {label(k): explain(k, "zh") for k in gpu_views.DETAIL_FIELDS}
    assert util_note("zh") in captions(at) and util_note("en") not in captions(at)
    procs = dataframe_el(at, list(process_table(at).columns))
    assert column_help(procs)["SM %"] == explain("processes.sm_percent", "zh")
    glossary = "\n".join(m.value for m in at.expander[0].markdown)
    for key in gpu.GPU_DETAIL_FIELDS:  # the new fields are in the page's field guide too
        assert explain(key, "zh") in glossary, key


# ---- the training processes of this machine (with or without a GPU) -------------------------


def training_el(at: AppTest, lang: str = "en"):
    table = i18n.EN if lang == "en" else i18n.ZH
    return dataframe_el(at, [table[k] for k in TRAINING_KEYS])


def start_hints(at: AppTest) -> list[str]:
    """The info boxes but the glossary's note (in its expander)."""
    return [i.value for i in at.info if i.value not in (note("en"), note("zh"))]


def test_no_live_run_says_how_to_start_one(fake_nvml, runs):
    fake.configure(init_error=fake.NVML_ERROR_LIBRARY_NOT_FOUND)
    at = gpu_page()
    info = start_hints(at)
    assert len(info) == 1 and info[0].startswith("No training run is live.")
    assert f"`python -m vgg_core train --run-dir {runs}/my-run`" in info[0]
    links = at.get("page_link")
    assert [link.proto.label for link in links] == ["Go to the Train page"]
    assert links[0].proto.page.endswith("train")


def test_the_table_formats_what_psutil_gives_and_what_it_cannot():
    procs = [LiveProcess(4242, "20261130-101010-abcdef", None, 153.26, 1234.5, 3725.0),
             LiveProcess(4243, "20261130-101010-abcdef", 1, None, None, None)]
    table = gpu_training.training_table(procs, {"20261130-101010-abcdef": "my run"})
    assert list(table.columns) == [i18n.EN[k] for k in TRAINING_KEYS]
    assert table.values.tolist() == [
        ["4242", "—", "153.3%", "1,234 MiB", "1 h 02 min", "20261130-101010-abcdef", "my run"],
        ["4243", "1", "N/A", "N/A", "N/A", "20261130-101010-abcdef", "my run"],
    ]
    assert gpu_training.training_table(procs[:1], {})["Name"].tolist() == ["—"]


@pytest.mark.timeout(300)
def test_a_live_run_is_listed_with_its_pid_cpu_and_memory_in_both_languages(fake_nvml, runs):
    """A real training process on this machine's CPU, as the GPU page lists it, with and without a GPU."""
    fake.configure(init_error=fake.NVML_ERROR_LIBRARY_NOT_FOUND)
    with live_tiny_run(runs, "gpu page test") as proc:
        for lang in ("en", "zh"):
            at = gpu_page(lang)
            el = training_el(at, lang)
            rows = [r for r in el.value.values.tolist() if r[0] == str(proc.pid)]
            assert len(rows) == 1, el.value
            pid, rank, cpu, rss, ran, run, name = rows[0]
            assert (rank, run, name) == ("—", proc.run_id, "gpu page test")
            assert re.fullmatch(r"\d+\.\d%", cpu), cpu
            assert re.fullmatch(r"[\d,]+ MiB", rss) and int(rss[:-4].replace(",", "")) > 50, rss  # torch is loaded
            assert ran.endswith(" s" if lang == "en" else "秒"), ran
            table = i18n.EN if lang == "en" else i18n.ZH
            assert column_help(el) == {table[k]: table[f"{k}.help"] for k in TRAINING_KEYS}
            assert not start_hints(at)  # no "how to start a run" while one is live
        fake.configure(gpus=[FakeGpu(**FULL)])  # on a machine with a GPU the section is there too
        gpu.shutdown()
        at = gpu_page()
        assert str(proc.pid) in training_el(at).value["PID"].tolist()
