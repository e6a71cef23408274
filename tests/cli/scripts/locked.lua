-- Another connection takes the run database's write lock while this script runs (run_test cases
-- db_locked_*): `arg` = {DB, SECONDS to hold it, SECONDS to sleep before failing}. The holder is
-- the sqlite3 command in the background; MARKER exists while it holds the lock.
local db, hold, rest = arg[1], arg[2], arg[3]
local marker = db .. ".locked"
os.execute(string.format(
  "sqlite3 '%s' 'BEGIN EXCLUSIVE;' '.shell touch %s; sleep %s' 'COMMIT;' '.shell rm %s' &",
  db, marker, hold, marker))
while not io.open(marker) do os.execute("sleep 0.05") end
gom.log("x", 1, 1)  -- committed at once (a new epoch): the lock refuses it
gom.log("x", 2, 2)
os.execute("sleep " .. rest)
error("the script's own error")
