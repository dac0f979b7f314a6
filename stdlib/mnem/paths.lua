-- mnem.paths: where `require` looks for playbook recipes.
--
-- Order: the playbook's own folder, then each folder in MNEM_PATH
-- (colon-separated, for a team's shared recipes), then mnem's standard
-- library. In each folder, module a.b is a/b.lua or a/b/init.lua.
local M = {}

--- Returns the folder part of PATH ("." when it has none).
function M.dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

--- Puts the folder of PLAYBOOK_FILE and MNEM_PATH on package.path.
function M.setup(playbook_file)
  local folders = { M.dirname(playbook_file) }
  for folder in (os.getenv("MNEM_PATH") or ""):gmatch("[^:]+") do
    folders[#folders + 1] = folder
  end
  local templates = {}
  for _, folder in ipairs(folders) do
    templates[#templates + 1] = folder .. "/?.lua"
    templates[#templates + 1] = folder .. "/?/init.lua"
  end
  package.path = table.concat(templates, ";")
  return folders
end

return M
