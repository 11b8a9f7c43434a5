#!/usr/bin/env bash
# Rebuild the example report reports/ai-policies-2025/ from the AI-policy corpus and the seed articles
# with the model shipped in the checkout. Run from the repository root with aipolicy installed:
#     bash reports/regenerate.sh            # SHARED=/path/to/shared to point elsewhere
# SOURCE_DATE_EPOCH fixes the date printed in the header, so the same model and data give the same bytes.
set -euo pipefail
SHARED=${SHARED:-../shared}
SOURCE_DATE_EPOCH=1764028800 aipolicy report "$SHARED/corpus/ai-policies" "$SHARED/seeds" \
    -o reports/ai-policies-2025 --metadata "$SHARED/corpus/ai-policies/index.csv" \
    --no-text-from "$SHARED/seeds" -j 2 -q
