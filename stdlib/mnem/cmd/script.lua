-- mnem script FILE [ARGS]: run a Lua file with mnem's library available.
--
-- Used by the test suite and the benchmarks; not shown in `mnem --help`.
-- The file's folder and MNEM_PATH are on the module search path, and the
-- global `arg` holds ARGS. The file's return value, if an integer, is the
-- exit status.
local paths = require("mnem.paths")

local M = {}

M.summary = "run a Lua file with mnem's library (for tests and benchmarks)"
M.usage = [[
usage: mnem script FILE [ARGS...]

Runs FILE as a Lua chunk with mnem's standard library on the module search
path, after FILE's own folder and the folders in MNEM_PATH. ARGS are in the
global table `arg`. Exit status: the integer FILE returns, else 0.]]

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
