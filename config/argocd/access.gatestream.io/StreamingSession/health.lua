-- Argo CD health check for access.gatestream.io/StreamingSession.
-- Source of truth: config/argocd/ in github.com/gatestream/gatestream
-- (docs/argocd.md). Uses only the Lua base library, so it runs from
-- argocd-cm without resource.customizations.useOpenLibs.

-- Health of each phase, in one place. A finished session (Expired, Ended,
-- Revoked) is the normal end of its life, not a fault: Healthy.
local PHASES = {
  Pending = "Progressing",
  Ready = "Healthy",
  Active = "Healthy",
  Expired = "Healthy",
  Ended = "Healthy",
  Revoked = "Healthy",
  Failed = "Degraded",
}

local FINISHED = {
  Expired = "the URL expired unused",
  Ended = "the access window ended",
  Revoked = "the session was revoked",
}

local function result(status, message)
  return { status = status, message = message }
end

if obj.status == nil or obj.status.phase == nil or obj.status.phase == "" then
  return result("Progressing", "Waiting for the controller to report status")
end

local generation = obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= generation then
  return result("Progressing", "Waiting for the controller to observe generation " .. tostring(generation))
end

local phase = obj.status.phase
local ready = nil
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      ready = c
    end
  end
end

local status = PHASES[phase]
if status == nil then
  return result("Progressing", "Unknown phase " .. phase)
end

local detail = FINISHED[phase] or phase
if ready ~= nil and ready.message ~= nil and ready.message ~= "" then
  detail = ready.message
elseif ready ~= nil and ready.reason ~= nil and ready.reason ~= "" then
  detail = (FINISHED[phase] or phase) .. " (" .. ready.reason .. ")"
end

if FINISHED[phase] ~= nil then
  return result(status, "Session finished normally (" .. phase .. "): " .. detail)
end
return result(status, detail)
