# seqlm: two commands on a fresh clone (see README):
#   make demo   install, then compress/decompress/verify a bundled real FASTQ and print the ratio
#   make test   install, then run the test suite
PYTHON ?= python3
PIP = $(PYTHON) -m pip
DEMO_IN = examples/yeast-chipseq-SRR5204809-5k.fastq.gz
DEMO_OUT = demo-out

.PHONY: install demo test test-full bench bench-levels bench-heads bench-memory bench-holdout clean

install:
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[test,bench,heads]"

demo: install
	@mkdir -p $(DEMO_OUT)
	$(PYTHON) -m cli.main compress $(DEMO_IN) -o $(DEMO_OUT)/demo.seqlm -f -v
	$(PYTHON) -m cli.main decompress $(DEMO_OUT)/demo.seqlm -o $(DEMO_OUT)/demo.fastq -f
	$(PYTHON) -m cli.main verify $(DEMO_OUT)/demo.seqlm
	$(PYTHON) examples/compare.py $(DEMO_IN) $(DEMO_OUT)/demo.fastq $(DEMO_OUT)/demo.seqlm

test: install
	$(PYTHON) -m pytest -q -p no:cacheprovider || { status=$$?; [ $$status -eq 5 ] && echo "pytest collected no tests" >&2; exit $$status; }

test-full: install
	$(PYTHON) -m pytest -q -p no:cacheprovider -m "slow or not slow"

bench: install
	$(PYTHON) -m benchmarks

bench-levels: install
	$(PYTHON) -m benchmarks --codecs seqlm --seqlm-levels 1,2,3,4,5 --no-plots --out benchmarks/results/levels

bench-heads: install
	$(PYTHON) -m benchmarks.heads

bench-memory: install
	$(PYTHON) -m benchmarks.memory

bench-holdout: install
	$(PYTHON) -m benchmarks.holdout

clean:
	rm -rf $(DEMO_OUT) build *.egg-info .pytest_cache
