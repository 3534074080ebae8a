# Read QC of one sample (one array child): `runner submit --samples examples/qc/samples.csv --command "$(cat qc.sh)"`.
# The row gives SAMPLE_ID and FASTQ (the staged s3:// URI of the sheet's fastq column); the runner gives
# RUNNER_RESULTS_URI (s3://<results bucket>/<run>/<sample>/). Needs the AWS CLI and seqkit (image: tools).
set -eu
work=$(mktemp -d)
aws s3 cp --quiet "$FASTQ" "$work/reads.fastq"
seqkit stats --tabular --all --threads 1 "$work/reads.fastq" > "$work/stats.tsv"

# One column of seqkit's table by its header name (column order differs between seqkit versions).
header=$(head -n 1 "$work/stats.tsv")
values=$(tail -n 1 "$work/stats.tsv")
column() {
  i=1
  for name in $header; do
    if [ "$name" = "$1" ]; then printf '%s\n' "$values" | cut -f "$i"; return 0; fi
    i=$((i + 1))
  done
  echo "qc: seqkit printed no $1 column" >&2
  return 1
}
reads=$(column num_seqs)
bases=$(column sum_len)
mean=$(column avg_len)
gc=$(column 'GC(%)')
printf 'sample\treads\tbases\tmean_length\tgc_percent\n%s\t%s\t%s\t%s\t%s\n' \
  "$SAMPLE_ID" "$reads" "$bases" "$mean" "$gc" > "$work/qc.tsv"
cat "$work/qc.tsv"

aws s3 cp --quiet "$work/qc.tsv" "${RUNNER_RESULTS_URI}qc.tsv"
aws s3 cp --quiet "$work/stats.tsv" "${RUNNER_RESULTS_URI}seqkit-stats.tsv"
rm -rf "$work"
