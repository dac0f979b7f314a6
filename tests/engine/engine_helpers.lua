-- engine_helpers: runs playbooks with the real mnem binary for the engine
-- tests, and reads back their run records.
local record = require("mnem.record")

local M = {}

local function quote(text)
  return "'" .. tostring(text):gsub("'", "'\\''") .. "'"
end
M.quote = quote

--- Writes TEXT to a new file NAME in folder DIR and returns its path.
function M.write(dir, name, text)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local data = f:read("a")
  f:close()
  return data
end
M.slurp = slurp

--- Runs `mnem ARGS...` (a list) with extra environment ENV (a table) and
-- returns the exit status, stdout and stderr.
function M.mnem(args, env)
  local dir = M.scratch or error("engine_helpers: call setup() first")
  local parts = {}
  for name, value in pairs(env or {}) do parts[#parts + 1] = name .. "=" .. quote(value) end
  parts[#parts + 1] = quote(os.getenv("MNEM_BIN") or "build/mnem")
  for _, a in ipairs(args) do parts[#parts + 1] = quote(a) end
  local command = table.concat(parts, " ") .. " >" .. dir .. "/stdout 2>" .. dir .. "/stderr"
  local _, _, status = os.execute(command)
  return status, slurp(dir .. "/stdout"), slurp(dir .. "/stderr")
end

--- Makes a fresh scratch folder and state folder for one test; returns both.
function M.setup(t)
  M.scratch = t.tmpdir()
  M.state = M.scratch .. "/state"
  return M.scratch, M.state
end

--- Runs playbook TEXT (written to the scratch folder) with `mnem run`,
-- extra ARGS and ENV; returns status, stdout, stderr.
function M.run(text, args, env)
  local path = M.write(M.scratch, "playbook.lua", text)
  local full = { "run", path, "--state-dir", M.state }
  for _, a in ipairs(args or {}) do full[#full + 1] = a end
  return M.mnem(full, env)
end

--- Returns the events of the newest run record in the state folder, the
-- record's path and whether its last line was cut.
function M.last_record()
  local ids = record.list(M.state)
  assert(ids[1], "no run record in " .. M.state)
  local path = record.runs_dir(M.state) .. "/" .. ids[1] .. ".jsonl"
  local events, truncated = record.read(path)
  return events, path, truncated
end

--- Returns the events named NAME (and, if given, for step STEP).
function M.events(events, name, step)
  local out = {}
  for _, e in ipairs(events) do
    if e.event == name and (step == nil or e.step == step) then out[#out + 1] = e end
  end
  return out
end

--- Returns the contents of the file at PATH as a list of lines, or {}.
function M.lines(path)
  local out = {}
  for line in slurp(path):gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

return M
