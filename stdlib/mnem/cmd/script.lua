-- mnem script FILE [ARGS]: run a Lua file with mnem's library available.
--
-- For one-off tasks that need mnem's clients without the steps, records
-- and rollbacks of a playbook (`require("aws")`, `require("pg")`),
-- and for the test suite and the benchmarks. The file's folder and
-- MNEM_PATH are on the module search path, and the global `arg` contains
-- ARGS. The file's return value, if an integer, is the exit status.
local paths = require("mnem.paths")

local M = {}

M.summary = "run a Lua file with mnem's library on the module path (no steps, no record)"
M.usage = [[
usage: mnem script FILE [ARGS...]

Runs FILE as a Lua chunk with mnem's standard library on the module search
path, after FILE's own folder and the folders in MNEM_PATH. ARGS are in the
global table `arg`. Exit status: the integer FILE returns, else 0.

FILE runs in Lua's plain global environment: the playbook globals (aws,
pg, http, exec, step, vars, ...) are not predefined, so require the
modules, as in local aws = require("aws"). Nothing is recorded, and
print and io.write do not mask secrets as they do in a playbook.]]

--- Runs the Lua file named in ARGS and returns its exit status.
function M.main(args)
  local file = args[1]
  if not file then
    error(require("mnem.cli").usage_error("mnem script: missing FILE; usage: mnem script FILE [ARGS...]"), 0)
  end
  paths.setup(file)
  local chunk, err = loadfile(file, "t")
  if not chunk then
    error(require("mnem.cli").usage_error(err), 0)
  end
  _G.arg = table.move(args, 2, #args, 1, { [0] = file })
  return chunk(table.unpack(args, 2))
end

return M
