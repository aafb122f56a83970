"""python -m benchmarks {synth,prepare,networks,quality,references,baselines,residual_range,fingerprint,lazy_gp,loader,translate,curves,studio,utility,gpu,all,report}"""

from __future__ import annotations

import argparse
import json

from benchmarks import report

BENCHMARKS = ("synth", "prepare", "networks", "quality", "references", "baselines", "residual_range", "fingerprint", "lazy_gp", "loader", "translate", "curves", "studio", "utility", "gpu")


def main():
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("name", choices=[*BENCHMARKS, "all", "report"])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    if args.name == "all":  # the GPU figures need a CUDA machine; elsewhere `all` leaves them out
        import torch

        names = [n for n in BENCHMARKS if n != "gpu" or torch.cuda.is_available()]
    else:
        names = [args.name]
    for name in names:
        if name == "report":
            continue
        module = __import__(f"benchmarks.{name}", fromlist=["run"])
        result = module.run(**(module.QUICK if args.quick and hasattr(module, "QUICK") else {}))
        print(json.dumps(result, indent=2)[:4000])
    print(f"wrote {report.write()}")


if __name__ == "__main__":
    main()
