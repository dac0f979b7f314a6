-- mnem plan PLAYBOOK: list a playbook's steps without running them.
local cli = require("mnem.cli")
local duration = require("mnem.duration")
local playbook = require("mnem.playbook")
local retry = require("mnem.retry")

local M = {}

M.summary = "list a playbook's steps, guards, retries and timeouts"
M.usage = [[
usage: mnem plan PLAYBOOK

Prints the variables and the steps of PLAYBOOK in order, with groups, guards
(already_done, when), retry policies, timeouts, rollback hooks, always-steps
and tags. Nothing runs.

exit status: 0 success, 2 the playbook is invalid.]]

-- Returns VALUE, a value of a variable of SPEC's type, as `mnem plan`
-- shows it: durations as "5m00s", lists comma-separated, secrets hidden.
local function shown_value(spec, value)
  if spec.type == "secret" then return "(secret)" end
  if spec.type == "duration" then return duration.format(value) end
  if type(value) == "table" then return table.concat(value, ",") end
  return tostring(value)
end

local function describe_var(spec)
  local parts = { spec.type }
  if spec.value ~= nil then
    parts[#parts + 1] = "default " .. shown_value(spec, spec.value)
  elseif spec.required == false then
    parts[#parts + 1] = "optional"
  else
    parts[#parts + 1] = "required"
  end
  if spec.choices then
    local names = {}
    for _, c in ipairs(spec.choices) do names[#names + 1] = tostring(c) end
    parts[#parts + 1] = "one of " .. table.concat(names, "|")
  end
  if spec.min then parts[#parts + 1] = "min " .. shown_value(spec, spec.min) end
  if spec.max then parts[#parts + 1] = "max " .. shown_value(spec, spec.max) end
  return table.concat(parts, ", ")
end

local function node_lines(out, node, number, indent, default_retry)
  local pad = ("  "):rep(indent)
  local flags = {}
  if node.already_done then flags[#flags + 1] = "guard: already_done" end
  if node.when then flags[#flags + 1] = "condition: when" end
  if node.rollback then flags[#flags + 1] = "rollback" end
  if node.always then flags[#flags + 1] = "always" end
  if node.timeout then flags[#flags + 1] = "timeout " .. duration.format(node.timeout) end
  if #node.tags > 0 then flags[#flags + 1] = "tags " .. table.concat(node.tags, ",") end
  out[#out + 1] = ("%s%s. %s%q%s"):format(pad, number, node.kind == "group" and "group " or "", node.name,
    #flags > 0 and ("  [" .. table.concat(flags, "; ") .. "]") or "")
  -- The lines under a step start where its name does, after "10. " too.
  local under = pad .. (" "):rep(#number + 2)
  if node.description then out[#out + 1] = under .. node.description end
  local policy = node.retry
  if node.kind == "step" and not policy then policy = default_retry end
  if policy and #policy > 0 then
    out[#out + 1] = under .. "retry: " .. retry.describe(policy) .. (node.retry and "" or " (playbook default)")
  end
  if node.kind == "group" then
    for i, child in ipairs(node.steps) do
      node_lines(out, child, number .. "." .. i, indent + 1, default_retry)
    end
  end
end

--- Prints the plan of the playbook in ARGS and returns the exit status.
function M.main(args)
  local _, positional = cli.parse_args(args, {}, "plan")
  if #positional ~= 1 then
    error(cli.usage_error("mnem plan: expected one PLAYBOOK; usage: mnem plan PLAYBOOK"), 0)
  end
  local path = positional[1]
  local loaded, pb, found = pcall(playbook.check, path)
  if not loaded then error(cli.usage_error(tostring(pb)), 0) end
  if not pb then error(cli.usage_error(playbook.report_mistakes("plan", path, found)), 0) end
  local out = { ("playbook %q (%s)"):format(pb.name, pb.path) }
  if pb.description then out[#out + 1] = "  " .. pb.description end
  if pb.deadline then out[#out + 1] = "deadline: " .. duration.format(pb.deadline) end
  if pb.retry then out[#out + 1] = "default retry: " .. retry.describe(pb.retry) end
  if #pb.var_order > 0 then
    out[#out + 1] = "variables:"
    for _, name in ipairs(pb.var_order) do
      local spec = pb.var_specs[name]
      local about = spec.description and (": " .. spec.description) or ""
      out[#out + 1] = ("  %s: %s%s"):format(name, describe_var(spec), about)
    end
  end
  out[#out + 1] = "steps:"
  for i, node in ipairs(pb.steps) do node_lines(out, node, tostring(i), 1, pb.retry) end
  if #pb.follow_up > 0 then
    out[#out + 1] = "follow-up:"
    for _, text in ipairs(pb.follow_up) do out[#out + 1] = "  - " .. text end
  end
  io.stdout:write(table.concat(out, "\n"), "\n")
  return cli.EXIT.ok
end

return M
