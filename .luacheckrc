-- luacheck settings for stdlib/, playbooks/, tests/, tools/ and bench/.
std = "lua54"
max_line_length = 120
codes = true
-- Playbooks and scenarios run with mnem's playbook globals.
files["playbooks"] = { globals = { "playbook", "step", "group", "var" } }
files["tests"] = { allow_defined_top = true }
