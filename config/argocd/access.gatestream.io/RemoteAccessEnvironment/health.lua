-- Argo CD health check for access.gatestream.io/RemoteAccessEnvironment.
-- Source of truth: config/argocd/ in github.com/gatestream/gatestream
-- (docs/argocd.md). Uses only the Lua base library, so it runs from
-- argocd-cm without resource.customizations.useOpenLibs.

-- Ready=False (or any unit condition False) with one of these reasons needs a
-- person: Degraded. Every other reason, including ones this script does not
-- know yet, is Progressing.
local TERMINAL = {
  InvalidConfiguration = true,
  CredentialsUnavailable = true,
  GatewayFailed = true,
  GatewayNotFound = true,
  PeeringFailed = true,
  RouteTableNotFound = true,
  Unreachable = true,
  Unverified = true,
  RouteConflict = true,
  RouterNotFound = true,
  RouterStopped = true,
  GateClosed = true,
  EndpointNotAllowed = true,
  CIDROverlap = true,
  FleetErrors = true,
  NameConflict = true,
  UpdateRequiresStop = true,
}

-- Synced=False means the last pass failed; Degraded unless the reason says it
-- is being retried (Throttled, APIError) or is an expected wait.
local NOT_AN_ERROR = {
  Throttled = true,
  APIError = true,
  Creating = true,
  CreatePending = true,
  Updating = true,
  Deleting = true,
  WaitingForDependency = true,
  PeeringPending = true,
  FleetStarting = true,
  FleetStopping = true,
  WaitingForIdle = true,
}

local function result(status, message)
  return { status = status, message = message }
end

local function describe(c)
  local reason = c.reason or ""
  local message = c.message or ""
  if message == "" then
    return c.type .. " is " .. (c.status or "Unknown") .. " (" .. reason .. ")"
  end
  if reason == "" then
    return message
  end
  return reason .. ": " .. message
end

if obj.status == nil or obj.status.conditions == nil or next(obj.status.conditions) == nil then
  return result("Progressing", "Waiting for the controller to report status")
end

local generation = obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= generation then
  return result("Progressing", "Waiting for the controller to observe generation " .. tostring(generation))
end

local ready = nil
local synced = nil
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then
    ready = c
  elseif c.type == "Synced" then
    synced = c
  end
end

local retrying = nil
if synced ~= nil and synced.status == "False" then
  if NOT_AN_ERROR[synced.reason] then
    retrying = synced
  else
    return result("Degraded", describe(synced))
  end
end

for _, c in ipairs(obj.status.conditions) do
  if c.status == "False" and TERMINAL[c.reason] then
    if c.type == "Ready" then
      return result("Degraded", describe(c))
    end
    return result("Degraded", c.type .. " " .. describe(c))
  end
end

if ready == nil then
  if retrying ~= nil then
    return result("Progressing", describe(retrying))
  end
  return result("Progressing", "Waiting for the Ready condition")
end

if ready.status == "True" then
  if generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration ~= generation then
    return result("Progressing", "Ready describes generation " .. tostring(ready.observedGeneration) .. ", not " .. tostring(generation))
  end
  return result("Healthy", describe(ready))
end

if retrying ~= nil and describe(retrying) ~= describe(ready) then
  return result("Progressing", describe(ready) .. " (" .. describe(retrying) .. ")")
end
return result("Progressing", describe(ready))
