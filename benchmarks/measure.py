"""Run a command as a child and print its peak RSS: the largest single process and the sum over children.

Used as `python -m benchmarks.measure -- CMD ...`; prints one JSON line last.
"""

import json
import resource
import subprocess
import sys

if __name__ == "__main__":
    command = sys.argv[sys.argv.index("--") + 1:]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"peak_rss_mib_largest_process": round(usage.ru_maxrss / 1024, 1)}))
