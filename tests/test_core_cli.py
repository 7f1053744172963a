"""``python -m vgg_core summary`` as a user runs it: a real subprocess, real output, real exit codes."""

import csv
import io
import json
import subprocess
import sys

import pytest

from vgg_core import ArchSpec, summarize


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vgg_core", *args], capture_output=True, text=True, timeout=120
    )


def test_json_has_the_promised_keys_and_the_books_numbers():
    out = run_cli("summary", "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["total_params"] == 128_806_154
    assert data["flatten_size"] == 25088
    assert data["total_macs"] == summarize(ArchSpec()).total_macs
    layer = data["layers"][0]
    assert {"name", "type", "output_shape", "params", "macs"} <= set(layer)
    assert layer["output_shape"] == [1, 64, 224, 224]
    assert [l["output_shape"] for l in data["layers"] if l["type"] == "Flatten"] == [[1, 25088]]


def test_flags_and_presets():
    d2l = json.loads(run_cli("summary", "--preset", "d2l", "--format", "json").stdout)
    assert d2l["total_params"] == 43_093_322
    ratio = json.loads(run_cli("summary", "--ratio", "4", "--format", "json").stdout)
    assert ratio["total_params"] == 43_093_322
    tv = json.loads(
        run_cli("summary", "--preset", "vgg16", "--in-channels", "3", "--num-classes", "1000", "--format", "json").stdout
    )
    assert tv["total_params"] == 138_357_544
    custom = json.loads(
        run_cli("summary", "--arch", "1x8 2x16", "--input-size", "28", "--fc-width", "64", "--batch-norm",
                "--format", "json").stdout
    )
    assert custom["spec"]["conv_arch"] == [[1, 8], [2, 16]] and custom["spec"]["batch_norm"] is True
    assert custom["flatten_size"] == 16 * 7 * 7


def test_table_reads_like_a_summary():
    out = run_cli("summary")
    assert out.returncode == 0
    assert "Total params:              128,806,154 (128.8 M)" in out.stdout
    assert "Flatten width:             25,088" in out.stdout
    assert "7.547 GMACs" in out.stdout
    assert "[1, 512, 7, 7]" in out.stdout


def test_csv_is_one_row_per_layer():
    out = run_cli("summary", "--format", "csv", "--ratio", "4")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) == len(summarize(ArchSpec(ratio=4)).layers)
    assert sum(int(r["params"]) for r in rows) == 43_093_322


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--arch", "((1, 64), (1, 128)"], "is not a list of (num_convs, out_channels) pairs"),
        (["--arch", "__import__('os')"], "is not a list of (num_convs, out_channels) pairs"),
        (["--ratio", "128"], "block 1: ratio 128 leaves 64 // 128 = 0 channels"),
        (["--ratio", "four"], "argument --ratio: invalid int value: 'four'"),
        (["--input-size", "20"], "input_size 20 is too small for 5 blocks: the side reaches 0 after block 5"),
        (["--arch", "1x99999"], "block 1: out_channels must be from 1 to 16384, got 99999"),
        (["--preset", "vgg99"], "argument --preset: invalid choice: 'vgg99'"),
        (["--format", "xml"], "argument --format: invalid choice"),
        (["--preset", "vgg11", "--arch", "1x64"], "not allowed with argument"),
    ],
)
def test_bad_input_is_one_line_and_status_2(args, expected):
    out = run_cli("summary", *args)
    assert out.returncode == 2
    assert out.stdout == ""
    assert expected in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_unknown_command():
    out = run_cli("fly")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "invalid choice: 'fly'" in out.stderr
