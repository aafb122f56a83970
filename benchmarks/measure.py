"""Run a command as a child and print its peak RSS (the largest single process among its descendants).

Used as `python -m benchmarks.measure -- CMD ...`. The child's stdout is echoed first, and one JSON line is last.
"""

import json
import resource
import subprocess
import sys

if __name__ == "__main__":
    command = sys.argv[sys.argv.index("--") + 1:]
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    sys.stdout.write(output)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"peak_rss_mib_largest_process": round(usage.ru_maxrss / 1024, 1)}))
