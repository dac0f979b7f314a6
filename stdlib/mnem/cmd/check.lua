-- mnem check PLAYBOOK: load and validate a playbook without running it.
local cli = require("mnem.cli")
local playbook = require("mnem.playbook")
local secret = require("mnem.secret")

local M = {}

M.summary = "validate a playbook without running any step"
M.usage = [[
usage: mnem check PLAYBOOK... [--var NAME=VALUE]...

Loads each PLAYBOOK and validates it: Lua syntax, step and group fields,
retry policies, durations, variable definitions and unique names. Every
mistake found is printed on its own line, with the file, the line and the
step, group or variable. With --var, also checks those values against the
variables' types and reports required variables left without a value. No
step runs.

exit status: 0 all valid, 2 a playbook is invalid.]]

-- Returns the lines of the string error ERR as a list.
local function lines_of(err)
  local list = {}
  for line in tostring(err):gmatch("[^\n]+") do list[#list + 1] = line end
  return list
end

--- Checks the playbooks in ARGS and returns the exit status.
function M.main(args)
  local options, positional = cli.parse_args(args, { ["--var"] = "list" }, "check")
  if #positional == 0 then
    error(cli.usage_error("mnem check: missing PLAYBOOK; usage: mnem check PLAYBOOK..."), 0)
  end
  local status = cli.EXIT.ok
  local preloaded = {}
  for name in pairs(package.loaded) do preloaded[name] = true end
  for _, path in ipairs(positional) do
    -- Each playbook gets fresh copies of its recipes: a recipe loaded for
    -- an earlier playbook may be another file of the same name, and its
    -- mistakes were reported only while it was loaded.
    for name in pairs(package.loaded) do
      if not preloaded[name] then package.loaded[name] = nil end
    end
    local ok, pb, found = pcall(playbook.check, path)
    local var_ok, var_error = true, nil
    if ok and pb and options.var then var_ok, var_error = pcall(playbook.resolve_vars, pb, options.var) end
    local report
    if not ok then
      report = playbook.report_mistakes("check", path, lines_of(pb))
    elseif not pb then
      report = playbook.report_mistakes("check", path, found)
    elseif not var_ok then
      local texts = lines_of(var_error)
      for i, text in ipairs(texts) do texts[i] = path .. ": " .. text end
      report = playbook.report_mistakes("check", path, texts)
    end
    if report then
      io.stderr:write(secret.redact(report), "\n")
      status = cli.EXIT.usage
    else
      local steps = 0
      playbook.walk(pb, function(node) if node.kind == "step" then steps = steps + 1 end end)
      io.stdout:write(("%s: ok: playbook %q, %d step%s, %d variable%s\n"):format(path, pb.name, steps,
        steps == 1 and "" or "s", #pb.var_order, #pb.var_order == 1 and "" or "s"))
    end
  end
  return status
end

return M
