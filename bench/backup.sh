#!/usr/bin/env bash
# Backup benchmark (issue: backup and recovery). Grows a demo installation (SQLite) to about GEN_MB of data
# (firewall events in the database plus incompressible objects, like product photos), then measures, in the same
# run, Palisade and restic (the Debian package) on the same data directory:
#   full backup, second backup after ~1 % change, verify with full data read, and restore;
# time, throughput, repository growth (dedup) and peak memory (max RSS from /usr/bin/time).
# Usage: bench/backup.sh [GEN_MB]   (default 1100). Needs restic (apt-get install -y restic) and sqlite3.
set -euo pipefail
cd "$(dirname "$0")/.."
gen_mb="${1:-1100}"
command -v restic >/dev/null || { echo "restic is not installed: apt-get install -y restic" >&2; exit 2; }
command -v sqlite3 >/dev/null || { echo "sqlite3 is not installed: apt-get install -y sqlite3" >&2; exit 2; }
cargo build --release -q -p palisade
bin=$PWD/target/release/palisade
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data=$work/data
export RESTIC_PASSWORD=bench-only-password RESTIC_REPOSITORY=$work/restic-repo

echo "== generating ~${gen_mb} MB in $data"
"$bin" --data-dir "$data" demo >/dev/null
objects_mb=$(( gen_mb / 5 ))
db_mb=$(( gen_mb - objects_mb ))
rows=$(( db_mb * 1024 / 1 ))        # about 1 KiB per row
gen_rows() { # $1 first index, $2 count
  sqlite3 "$data/palisade.db" <<SQL
PRAGMA journal_mode = WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM n WHERE i < $1 + $2 - 1)
INSERT INTO shield_events (id, at, store_id, client_ip, method, path, action, score, rules, findings)
SELECT printf('bench-%09d', i), 1767225600000 + i * 1000, NULL, printf('203.0.113.%d', i % 250), 'GET',
       printf('/search?q=%s', lower(hex(randomblob(24)))), 'block', 5 + i % 20, '["942100"]',
       printf('[{"rule":"942100","field":"query.q","matched":"%s"}]', lower(hex(randomblob(400))))
FROM n;
COMMIT;
SQL
}
gen_rows 1 "$rows"
mkdir -p "$data/objects/images"
gen_objects() { # $1 count, $2 size KiB
  for _ in $(seq 1 "$1"); do
    f=$(mktemp "$work/obj.XXXX"); head -c "$(( $2 * 1024 ))" /dev/urandom > "$f"
    mv "$f" "$data/objects/images/$(sha256sum "$f" | cut -c1-64)"
  done
}
gen_objects $(( objects_mb * 4 )) 256
total=$(du -sb "$data" | cut -f1)
echo "data directory: $(( total / 1048576 )) MiB ($rows generated rows, $(( objects_mb * 4 )) generated objects)"

# "secs maxrss_kib" of a command, its output in $work/last.out
timed() {
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/last.out" 2>&1 || { cat "$work/last.out"; exit 1; }
  cat "$work/time"
}
change() {
  # ~1 %: new rows appended, recent rows updated (what changes in a live shop), and new photos.
  local n=$(( rows / 200 ))
  gen_rows $(( rows + 1 + ${1:-0} * n )) "$n"
  sqlite3 "$data/palisade.db" "UPDATE shield_events SET action = 'log' WHERE id > printf('bench-%09d', $rows - $n) AND id <= printf('bench-%09d', $rows)"
  gen_objects $(( objects_mb * 4 / 100 + 1 )) 256
}
mb() { echo "scale=1; $1 / 1048576" | bc; }
rate() { echo "scale=1; $1 / 1048576 / $2" | bc; }

echo "== Palisade"
read -r p_full p_full_mem < <(timed "$bin" --data-dir "$data" backup create)
p_repo1=$(du -sb "$data/backups/repo" | cut -f1)
cp "$data/palisade.db" "$work/before-change.db"
change 0
read -r p_incr p_incr_mem < <(timed "$bin" --data-dir "$data" backup create)
p_repo2=$(du -sb "$data/backups/repo" | cut -f1)
read -r p_verify p_verify_mem < <(timed "$bin" --data-dir "$data" backup verify --read-data)
read -r p_restore p_restore_mem < <(timed "$bin" --data-dir "$data" backup restore latest --to "$work/restored")
grep -q "every table's checksum matched" "$work/last.out" || { cat "$work/last.out"; exit 1; }
rm -rf "$work/restored"

echo "== restic $(restic version | awk '{print $2}')"
restic init --repository-version 2 -q >/dev/null
# Same starting point: the data directory as it was before the change, without Palisade's own repository.
mv "$data/palisade.db" "$work/after-change.db"; cp "$work/before-change.db" "$data/palisade.db"
rm -f "$data/palisade.db-wal" "$data/palisade.db-shm"
read -r r_full r_full_mem < <(timed restic backup -q --exclude "$data/backups" "$data")
r_repo1=$(du -sb "$RESTIC_REPOSITORY" | cut -f1)
mv "$work/after-change.db" "$data/palisade.db"
read -r r_incr r_incr_mem < <(timed restic backup -q --exclude "$data/backups" "$data")
r_repo2=$(du -sb "$RESTIC_REPOSITORY" | cut -f1)
read -r r_verify r_verify_mem < <(timed restic check --read-data)
read -r r_restore r_restore_mem < <(timed restic restore latest --target "$work/restic-restored")

row() { printf '%-28s %10s %10s %9s\n' "$@"; }
echo
echo "Data: $(mb "$total") MiB. Time in s (throughput MiB/s of the data directory), peak RSS in MiB."
row "" "Palisade" "restic" "ratio"
cmp() { # label p r
  row "$1" "$2" "$3" "$(echo "scale=2; $3 / $2" | bc)x"
}
cmp "full backup s" "$p_full" "$r_full"
cmp "second backup (1 %) s" "$p_incr" "$r_incr"
cmp "verify, read all data s" "$p_verify" "$r_verify"
cmp "restore s" "$p_restore" "$r_restore"
row "full backup MiB/s" "$(rate "$total" "$p_full")" "$(rate "$total" "$r_full")" ""
row "repository after full MiB" "$(mb "$p_repo1")" "$(mb "$r_repo1")" ""
row "growth for the change MiB" "$(mb $(( p_repo2 - p_repo1 )))" "$(mb $(( r_repo2 - r_repo1 )))" ""
row "peak RSS full backup MiB" "$(( p_full_mem / 1024 ))" "$(( r_full_mem / 1024 ))" ""
row "peak RSS restore MiB" "$(( p_restore_mem / 1024 ))" "$(( r_restore_mem / 1024 ))" ""
row "peak RSS verify MiB" "$(( p_verify_mem / 1024 ))" "$(( r_verify_mem / 1024 ))" ""
echo "(ratio > 1: restic took longer. Goals: Palisade at least restic's throughput, growth proportional to the"
echo " change, peak memory under 256 MiB.)"

# Issue goal 5: restore within 2x of restic's time on the same data (measured above, in this run), peak memory
# under 256 MiB.
verdict() { if [ "$1" = 1 ]; then echo PASS; else echo FAIL; fi; }
restore_x=$(echo "scale=2; $p_restore / $r_restore" | bc)
restore_ok=$(echo "$p_restore <= 2 * $r_restore" | bc)
mem_ok=$(( p_restore_mem < 256 * 1024 ? 1 : 0 ))
echo
printf 'restore time Palisade / restic: %sx (goal <= 2.00x)   %s\n' "$restore_x" "$(verdict "$restore_ok")"
printf 'restore peak RSS: %s MiB (goal < 256 MiB)             %s\n' "$(( p_restore_mem / 1024 ))" "$(verdict "$mem_ok")"
echo "RESULT: $(verdict $(( restore_ok * mem_ok )))"
