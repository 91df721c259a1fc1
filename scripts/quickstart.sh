#!/bin/sh
# The README's first command: install what is missing (Debian packages),
# build quill, and run the offline quickstart recipe up to the review queue.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
make -j"$(nproc)" quill
./quill run recipes/quickstart.yaml
echo
echo "Outputs are waiting for review: ./quill review   (or ./quill review list)"
