-- Argo CD health check for access.gatestream.io/DeviceGroup.
-- Source of truth: config/argocd/ in github.com/gatestream/gatestream
-- (docs/argocd.md). Uses only the Lua base library, so it runs from
-- argocd-cm without resource.customizations.useOpenLibs.

-- Ready=False with one of these reasons needs a person: Degraded. Every other
-- reason, including ones this script does not know yet, is Progressing.
local TERMINAL = {
  InvalidConfiguration = true,
  CredentialsUnavailable = true,
  GroupNotFound = true,
  GroupConflict = true,
  SIMNotFound = true,
  SIMConflict = true,
  DeletionBlocked = true,
  EndpointNotAllowed = true,
}

-- Synced=False means the last pass failed; Degraded unless the reason says it
-- is being retried (Throttled, APIError) or is an expected wait.
local NOT_AN_ERROR = {
  Throttled = true,
  APIError = true,
  CreatePending = true,
  Updating = true,
  Deleting = true,
  EnvironmentNotFound = true,
  EnvironmentNotReady = true,
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
  elseif c.type == "Conflict" and c.status == "True" then
    -- Conflict is True when a wanted SIM, or the adopted group, belongs to
    -- another DeviceGroup.
    return result("Degraded", "Conflict " .. describe(c))
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

if ready ~= nil and ready.status == "False" and TERMINAL[ready.reason] then
  return result("Degraded", describe(ready))
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
