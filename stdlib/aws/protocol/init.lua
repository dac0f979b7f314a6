-- aws.protocol: picks the wire codec of a service model.
--
-- Both codecs (aws.protocol.query and aws.protocol.json) export the same
-- functions: build_request, parse_response, parse_error (client side) and
-- parse_request, build_response, build_error (server side).
local M = {}

local CODECS = { query = "aws.protocol.query", json = "aws.protocol.json" }

--- Returns the codec module for model M (from aws.model.load), chosen by
-- m.metadata.protocol. Raises when the protocol is not one mnem speaks.
function M.for_model(m)
  local protocol = m and m.metadata and m.metadata.protocol
  local name = CODECS[protocol]
  if not name then
    error(("aws.protocol: unsupported protocol %s for service %s (supported: query, json)"):format(
      tostring(protocol), tostring(m and m.service)), 2)
  end
  return require(name)
end

return M
