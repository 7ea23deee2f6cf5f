"""pnr through SiliconCompiler 0.38 up to the tool boundary, and the PDK abstraction.

What runs for real here: the PDK configurations (sky130hd and the commercial template),
synth and sta driven by the template filled with sky130 files, SiliconCompiler's project and
its own manifest checks with the offline sky130 data, its elaboration step (pyslang), its tool
and requirement checks, and the step's verdicts. OpenROAD, a Yosys with Tcl and a new OpenSTA
are not obtainable here: the flow must stop with one clear missing-tool message. Fake tools
(answer the version switch, record their argv, fail any real work) show how far the driver
goes; no test treats their output as a result.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from designs import (
    MAC_V,
    PDK_ROOT,
    SKY_LIB,
    TEMPLATE,
    TOP,
    fill_commercial_template,
    make_flow,
    write_fake_tools,
    write_rtl,
)

from asicflow.config import PnrConfig
from asicflow.errors import ConfigError, ToolFailed, ToolMissing
from asicflow.pdk import load_pdk, resolve_pdk
from asicflow.steps.base import execute
from asicflow.steps.pnr import PnrRequest, PnrStep, PnrToolsMissing
from asicflow.steps.sta import StaStep
from asicflow.steps.synth import SynthStep

# Files lambdapdk 0.2.22's sky130 set-up names for the flow's tasks beyond the liberty, LEF and
# GDS: an earlier shared copy (../shared/pdk/lambdapdk-sky130) lacked them; it holds them now.
# A copy without them (``pruned``) still exercises the step's missing-file report.
REQUIRED_EXTRAS = {
    f"{SKY_LIB}/apr/openroad/global_connect.tcl",
    f"{SKY_LIB}/apr/openroad/pdngen.tcl",
    f"{SKY_LIB}/apr/openroad/tapcell.tcl",
    f"{SKY_LIB}/techmap/yosys/cells_latch.v",
    f"{SKY_LIB}/techmap/yosys/cells_tristatebuf.v",
    "lambdapdk/sky130/base/pex/openroad/typical.rules",
}
OFFLINE_ENV = {
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "no_proxy": "",
    "NO_PROXY": "",
}


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No network for this process (IP sockets refuse to connect; local Unix sockets, which
    SiliconCompiler's process manager uses, still work) nor for children (proxies to a closed
    port), and a fresh HOME: returns that HOME, which must stay empty."""
    connect = socket.socket.connect

    def refuse(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f"network access attempted in an offline test: {address}")
        connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", refuse)
    for k, v in OFFLINE_ENV.items():
        monkeypatch.setenv(k, v)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture(scope="module")
def pruned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PDK root of symlinks to the shared copy's files, less :data:`REQUIRED_EXTRAS`."""
    root = tmp_path_factory.mktemp("pruned_pdk")
    for f in PDK_ROOT.rglob("*"):
        rel = f.relative_to(PDK_ROOT)
        if f.is_file() and rel.as_posix() not in REQUIRED_EXTRAS:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).symlink_to(f)
    return root


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return fill_commercial_template(tmp_path_factory.mktemp("pdk"))


def request(tmp_path: Path, **kw: Any) -> PnrRequest:
    rtl = tmp_path / "rtl" / "top.v"
    rtl.parent.mkdir(parents=True, exist_ok=True)
    rtl.write_text(MAC_V)
    sdc = tmp_path / "constraints.sdc"
    sdc.write_text("create_clock -name clk -period 10 [get_ports clk]\n")
    base: dict[str, Any] = {
        "top": TOP,
        "rtl": str(rtl),
        "sdc": str(sdc),
        "pdk_yaml": str(load_pdk("sky130hd").source),
        "pdk_root": str(PDK_ROOT),
        "builddir": str(tmp_path / "sc"),
        "cachedir": str(tmp_path / "sc" / "cache"),
    }
    base.update(kw)
    return PnrRequest(**base)


# --- PDK configurations ----------------------------------------------------------------------


def test_commercial_template_loads_and_names_every_missing_file() -> None:
    cfg = load_pdk(str(TEMPLATE))
    assert cfg.name == "commercial65" and not cfg.has_sc_target
    assert set(cfg.corners) == {"tt", "ss", "ff"} and cfg.physical.node_nm == 65
    assert cfg.pnr_problems() == []
    with pytest.raises(ConfigError) as err:
        resolve_pdk(make_flow("f", pdk=str(TEMPLATE)), pnr=True)
    msg = str(err.value)
    for rel in [c.liberty for c in cfg.corners.values()] + [
        cfg.files.lef,
        cfg.files.tech_lef,
        cfg.files.gds,
        cfg.files.layer_map,
        cfg.physical.scripts.power_grid,
        cfg.physical.scripts.tapcell,
    ]:
        assert str(PDK_ROOT / rel) in msg
    assert "corners.ss.liberty" in msg and "physical.scripts.global_connect" in msg


def test_pnr_keys_of_a_pdk_without_target_are_checked_at_once(tmp_path: Path) -> None:
    data = yaml.safe_load(TEMPLATE.read_text())
    data["physical"]["site"] = []
    data["physical"]["scripts"]["tapcell"] = ""
    data["physical"]["hold_corner"] = "slow"
    data["cells"]["tap"] = ""
    bad = tmp_path / "p.yaml"
    bad.write_text(yaml.safe_dump(data))
    problems = load_pdk(str(bad)).pnr_problems()
    text = "\n".join(problems)
    assert "'physical.site'" in text and "'physical.scripts.tapcell'" in text
    assert "'cells.tap'" in text and "'physical.hold_corner' is 'slow'" in text
    assert len(problems) == 4


def test_sky130hd_names_its_siliconcompiler_target() -> None:
    cfg = load_pdk("sky130hd")
    sc = cfg.siliconcompiler
    assert (sc.target, sc.dataroot, sc.pdk, sc.library) == (
        "skywater130_demo",
        "lambdapdk",
        "skywater130",
        "sky130hd",
    )
    assert cfg.pnr_problems() == [] and cfg.pnr_referenced() == []


@pytest.mark.tools
def test_commercial_template_filled_with_sky130_drives_synth_and_sta(
    tmp_path: Path, filled: tuple[Path, Path]
) -> None:
    """The PDK abstraction is not sky130-specific: the template, filled with the sky130 files
    as a stand-in, gives the same netlist area and timing as sky130hd.yaml."""
    yaml_path, root = filled
    write_rtl(tmp_path, "mac")
    results = {}
    for tag, kw in (("template", {"pdk": str(yaml_path), "pdk_root": root}), ("sky130hd", {})):
        build = tmp_path / tag
        shutil.copytree(tmp_path / "mac", build / "mac")
        synth = execute(SynthStep(), make_flow("mac", **kw), build)
        sta = execute(StaStep(), make_flow("mac", **kw), build)
        results[tag] = (synth, sta)
    (t_synth, t_sta), (s_synth, s_sta) = results["template"], results["sky130hd"]
    assert t_synth["synth__pdk"] == "filled65" and s_synth["synth__pdk"] == "sky130hd"
    assert t_synth["design__instance__area"] == s_synth["design__instance__area"] > 0
    assert t_synth["design__instance__count__flops"] == 36
    assert t_sta["timing__setup__ws"] == s_sta["timing__setup__ws"] > 0
    # The template's ss corner resolves to the filled ss Liberty file.
    ss = execute(
        StaStep(),
        make_flow("mac", pdk=str(yaml_path), pdk_root=root, corner="ss"),
        tmp_path / "template",
    )
    assert ss["timing__critical_path_ns"] > t_sta["timing__critical_path_ns"]


# --- the SiliconCompiler project (in process) --------------------------------------------------


def test_sky130_project_passes_siliconcompiler_checks_offline(
    tmp_path: Path, offline: Path
) -> None:
    from asicflow import sc_project

    req = request(
        tmp_path, core_utilization=35.0, aspect_ratio=0.8, core_margin_um=2.0, place_density=0.55
    )
    proj = sc_project.build_project(req)
    assert proj.check_manifest()
    assert proj.get("asic", "mainlib") == "sky130hd" and proj.get("asic", "pdk") == "skywater130"
    # Every lambdapdk dataroot points at the configured root; nothing left to download.
    for lib in ("sky130hd", "skywater130"):
        assert proj.get("library", lib, "dataroot", "lambdapdk", "path") == str(PDK_ROOT)
    assert sc_project.remote_dataroots(proj) == []
    lib = proj.get_library("sky130hd")
    typical = lib.find_files("fileset", "models.timing.typical.nldm", "file", "liberty")
    assert typical == [str(PDK_ROOT / SKY_LIB / "nldm" / "sky130_fd_sc_hd__tt_025C_1v80.lib.gz")]
    area = proj.constraint.area
    assert (area.get_density(), area.get_aspectratio(), area.get_coremargin()) == (35.0, 0.8, 2.0)
    assert lib.get("tool", "openroad", "place_density") == 0.55
    assert proj.option.scheduler.get_name() is None
    assert not any(offline.iterdir())


def test_sky130_required_files_are_found_and_named_when_missing(
    tmp_path: Path, offline: Path, pruned: Path
) -> None:
    """Which lambdapdk files the flow's tasks require that a PDK root does not have, read from
    the requirements SiliconCompiler's task set-up records (no tool runs): none for the
    shared copy, exactly the removed ones for a copy without them."""
    from asicflow import sc_project

    for root, want in ((PDK_ROOT, set()), (pruned, REQUIRED_EXTRAS)):
        proj = sc_project.build_project(request(tmp_path / root.name, pdk_root=str(root)))
        with pytest.raises(RuntimeError, match="Tools did not meet version requirements"):
            proj.run()  # stops at the tool check, after every task's set-up
        missing = sc_project.missing_required_files(proj, [])
        assert {f["path"] for f in missing} == want
    for rel in REQUIRED_EXTRAS:
        assert (PDK_ROOT / rel).is_file()


def test_project_from_the_pdk_yaml(
    tmp_path: Path, offline: Path, filled: tuple[Path, Path]
) -> None:
    from asicflow import sc_project

    yaml_path, root = filled
    proj = sc_project.build_project(request(tmp_path, pdk_yaml=str(yaml_path), pdk_root=str(root)))
    assert proj.check_manifest()
    assert (
        proj.get("asic", "mainlib") == "foundry65_sc9t" and proj.get("asic", "pdk") == "foundry65"
    )
    scenarios = proj.constraint.timing.get_scenario()
    assert {n: sorted(s.get_check()) for n, s in scenarios.items()} == {
        "ss": ["setup"],
        "ff": ["hold"],
        "tt": ["power"],
    }
    lib = proj.get_library("foundry65_sc9t")
    assert lib.find_files("fileset", "models.timing.ss.nldm", "file", "liberty") == [
        str(root / SKY_LIB / "nldm" / "sky130_fd_sc_hd__ss_n40C_1v40.lib.gz")
    ]
    assert lib.get("asic", "site") == ["unithd"]
    assert lib.get("tool", "yosys", "tiehigh_cell") == ("sky130_fd_sc_hd__conb_1", "HI")
    assert sc_project.remote_dataroots(proj) == []


def test_scheduler_tool_paths_and_stop_after(tmp_path: Path, offline: Path) -> None:
    from asicflow import sc_project

    tools = tmp_path / "bin"
    tools.mkdir()
    proj = sc_project.build_project(
        request(
            tmp_path,
            scheduler="slurm",
            queue="asic",
            tool_paths={"openroad": str(tools)},
            stop_after="floorplan.init",
        )
    )
    assert proj.option.scheduler.get_name() == "slurm"
    assert proj.option.scheduler.get_queue() == "asic"
    assert proj.get("tool", "openroad", "task", "global_route", "path") == str(tools)
    assert proj.option.get_to() == ["floorplan.init"]
    docker = sc_project.build_project(request(tmp_path, scheduler="docker"))
    assert docker.option.scheduler.get_name() == "docker"
    with pytest.raises(ConfigError, match="'pnr.tool_paths.innovus': not a tool"):
        sc_project.build_project(request(tmp_path, tool_paths={"innovus": str(tools)}))
    with pytest.raises(ConfigError, match="choose one of .*floorplan.init"):
        sc_project.build_project(request(tmp_path, stop_after="floorplan"))


def test_metrics_are_read_from_the_last_node_that_recorded_them(
    tmp_path: Path, offline: Path
) -> None:
    """The mapping of SiliconCompiler metric names, on values set by hand (not a run)."""
    from asicflow import sc_project

    proj = sc_project.build_project(request(tmp_path))
    proj.set("metric", "cellarea", 900.0, step="place.detailed", index="0")
    proj.set("metric", "cellarea", 1000.0, step="route.detailed", index="0")
    proj.set("metric", "setupslack", 1.25, step="write.views", index="0")
    proj.set("metric", "drcs", 0, step="route.detailed", index="0")
    m = sc_project.collect_metrics(proj)
    assert m["design__instance__area_um2"] == 1000.0
    assert m["design__instance__area_um2__step"] == "route.detailed/0"
    assert m["timing__setup__ws_ns"] == 1.25 and m["route__drc_errors"] == 0
    assert "power__average_mw" not in m


# --- the step ---------------------------------------------------------------------------------


@pytest.mark.tools
def test_elaboration_runs_for_real(tmp_path: Path, offline: Path) -> None:
    write_rtl(tmp_path, "mac")
    start = time.monotonic()
    m = execute(PnrStep(), make_flow("mac", pnr=PnrConfig(stop_after="elaborate")), tmp_path)
    wall = time.monotonic() - start
    out = tmp_path / "mac" / "pnr"
    assert m["pnr__sc__nodes_succeeded"] == ["elaborate/0"] and m["pnr__sc__errors"] == 0
    assert m["pnr__gds"] is None and m["pnr__stop_after"] == "elaborate"
    job = Path(m["pnr__sc_job_dir"])
    assert job == out / "sc" / TOP / "job0" and (job / f"{TOP}.pkg.json").is_file()
    elaborated = (job / "elaborate" / "0" / "outputs" / f"{TOP}.v").read_text()
    assert f"module {TOP}" in elaborated
    assert (
        "create_clock -name clk -period 10 [get_ports clk]" in (out / "constraints.sdc").read_text()
    )
    assert json.loads((out / "config.json").read_text())["versions"]["siliconcompiler"] == "0.38.11"
    assert (out / "commands.sh").read_text().count("asicflow.pnr_run") == 1
    assert not any(offline.iterdir())
    print(f"SiliconCompiler elaboration through PnrStep: {wall:.2f} s wall")


@pytest.mark.skipif(bool(shutil.which("openroad")), reason="OpenROAD is on PATH")
def test_pnr_stops_with_one_missing_tool_message(
    tmp_path: Path, offline: Path, monkeypatch: pytest.MonkeyPatch, pruned: Path
) -> None:
    """On this machine: one ToolMissing naming every tool, the version needed and how to point
    asicflow at them; earlier pnr results and other steps untouched; doit fails the task."""
    from asicflow.tasks import _action

    build = tmp_path / "build"
    write_rtl(build, "mac")
    for step in ("pnr", "synth"):  # a previous good pnr and another step's results
        (build / "mac" / step).mkdir(parents=True)
        (build / "mac" / step / "metrics.json").write_text('{"previous": true}\n')
    flow_file = tmp_path / "mac.yaml"
    (tmp_path / "unused.h5").write_bytes(b"")
    flow_file.write_text(yaml.safe_dump({"model": "unused.h5", "pdk_root": str(pruned)}))
    monkeypatch.setenv("ASICFLOW_BUILD", str(build))
    failed = _action(PnrStep(), flow_file)
    assert failed is not None  # doit: task failed, non-zero exit
    msg = str(failed)
    assert "\npnr: tool missing: SiliconCompiler cannot run the pnr flow" in msg
    for tool, need in (
        ("openroad", ">=24Q3-2011"),
        ("yosys", ">=0.48"),
        ("klayout", ">=0.28.0"),
        ("opensta", ">=2.6.2"),
    ):
        assert f"{tool} {need}" in msg
    assert "tool_paths" in msg and "pnr.scheduler: docker" in msg and "PATH" in msg
    for rel in REQUIRED_EXTRAS:  # the files that root lacks, named in the same message
        assert str(pruned / rel) in msg
    for step in ("pnr", "synth"):
        assert (build / "mac" / step / "metrics.json").read_text() == '{"previous": true}\n'
    assert sorted(p.name for p in (build / "mac").iterdir() if p.name != ".lock") == [
        "pnr",
        "pnr.failed",
        "rtl",
        "synth",
    ]
    assert (
        json.loads((build / "mac" / "pnr.failed" / "result.json").read_text())["status"] == "tools"
    )
    with pytest.raises(ToolMissing) as err:  # the same through the step API
        execute(PnrStep(), dataclasses.replace(make_flow("mac")), build)
    assert isinstance(err.value, PnrToolsMissing) and "openroad" in err.value.tool


@pytest.mark.tools
def test_fake_tools_pass_the_checks_and_sky130_names_the_missing_files(
    tmp_path: Path, offline: Path, monkeypatch: pytest.MonkeyPatch, pruned: Path
) -> None:
    """With tools that pass SiliconCompiler's version checks (fakes, first on PATH), its next
    check names the lambdapdk files a PDK root lacks: one ConfigError."""
    monkeypatch.setenv("FAKE_TOOL_LOG", str(tmp_path / "argv.jsonl"))
    write_fake_tools(tmp_path / "fake", sys.executable)
    monkeypatch.setenv("PATH", f"{tmp_path / 'fake'}{os.pathsep}{os.environ['PATH']}")
    write_rtl(tmp_path, "mac")
    with pytest.raises(ConfigError) as err:
        execute(PnrStep(), make_flow("mac", pdk_root=pruned), tmp_path)
    msg = str(err.value)
    assert "sky130hd.yaml" in msg and "lacks 6 file(s)" in msg
    for rel in REQUIRED_EXTRAS:
        assert str(pruned / rel) in msg
    calls = [json.loads(line) for line in (tmp_path / "argv.jsonl").read_text().splitlines()]
    assert {c["tool"] for c in calls} == {"openroad", "yosys", "opensta", "klayout"}
    assert all(c["argv"] in (["-version"], ["--version"], ["-zz", "-v"]) for c in calls)


@pytest.mark.tools
def test_fake_tools_drive_the_pdk_yaml_flow_to_synthesis(
    tmp_path: Path, offline: Path, monkeypatch: pytest.MonkeyPatch, filled: tuple[Path, Path]
) -> None:
    """The project built from the (filled) commercial template, fakes given by
    'pnr.tool_paths', passes every check SiliconCompiler makes before running (tools, required
    values and files of every node), elaborates for real, and hands Yosys its synthesis script
    with our Liberty file; the fake Yosys then fails, and the step names SiliconCompiler's log
    to read."""
    yaml_path, root = filled
    log = tmp_path / "argv.jsonl"
    monkeypatch.setenv("FAKE_TOOL_LOG", str(log))
    paths = write_fake_tools(tmp_path / "fake", sys.executable)
    write_rtl(tmp_path, "mac")
    flow = make_flow("mac", pdk=str(yaml_path), pdk_root=root, pnr=PnrConfig(tool_paths=paths))
    with pytest.raises(ToolFailed) as err:
        execute(PnrStep(), flow, tmp_path)
    msg = str(err.value)
    assert "errors in: synthesis/0" in msg and "not a real run" in msg
    job = tmp_path / "mac" / "pnr.failed" / "sc" / TOP / "job0"
    assert str(job / "synthesis" / "0" / "synthesis.log") in msg
    assert (job / "elaborate" / "0" / "outputs" / f"{TOP}.v").is_file()
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    work = [c for c in calls if c["argv"] not in (["-version"], ["--version"], ["-zz", "-v"])]
    assert len(work) == 1 and work[0]["tool"] == "yosys"
    assert work[0]["argv"][0] == "-c" and work[0]["argv"][1].endswith("sc_synth_asic.tcl")
    manifest = (job / "synthesis" / "0" / "sc_manifest.tcl").read_text()
    assert str(root / SKY_LIB / "nldm" / "sky130_fd_sc_hd__ss_n40C_1v40.lib.gz") in manifest


@pytest.mark.parametrize("scheduler", ["docker", "slurm"])
def test_unavailable_scheduler_is_named(
    tmp_path: Path, offline: Path, scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if scheduler == "docker" and (
        Path("/var/run/docker.sock").exists() or "DOCKER_HOST" in os.environ
    ):
        pytest.skip("a Docker daemon is reachable: the run would pull SiliconCompiler's image")
    if scheduler == "slurm":  # Slurm's commands off PATH (the regression tests install them)
        dirs = os.environ["PATH"].split(os.pathsep)
        monkeypatch.setenv(
            "PATH", os.pathsep.join(d for d in dirs if not (Path(d) / "sbatch").exists())
        )
        assert shutil.which("sbatch") is None
    write_rtl(tmp_path, "mac")
    with pytest.raises(ToolMissing, match=f"{scheduler} is not available") as err:
        execute(PnrStep(), make_flow("mac", pnr=PnrConfig(scheduler=scheduler)), tmp_path)
    assert err.value.tool == scheduler and "pnr.scheduler: local" in str(err.value)


def test_tools_missing_message_is_one_readable_paragraph() -> None:
    err = PnrToolsMissing(
        [
            {
                "tool": "openroad",
                "exe": "openroad",
                "required": [">=24Q3-2011"],
                "steps": [f"s{i}/0" for i in range(6)],
                "found": None,
            },
            {
                "tool": "opensta",
                "exe": "sta",
                "required": [">=2.6.2"],
                "steps": ["timing/0"],
                "found": "2.0.17",
                "found_at": "/usr/bin",
            },
        ],
        [{"key": "library,x,tool,openroad,tapcells", "path": "/pdk/tapcell.tcl"}],
        "set 'pnr.scheduler: docker'",
    )
    msg = str(err)
    assert isinstance(err, ToolMissing) and err.tool == "openroad, opensta"
    assert "openroad >=24Q3-2011: executable 'openroad' not found" in msg
    assert "(+2 more)" in msg
    assert "opensta >=2.6.2: found 2.0.17 at /usr/bin, too old" in msg
    assert "sc-install openroad opensta" in msg and "/pdk/tapcell.tcl" in msg
