import sys

from fashion_search.bench.runner import main

sys.exit(main())
