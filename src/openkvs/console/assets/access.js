// A store's general access: who can read it without a token or signature (behaviour.md#access).

export const ACCESS_OPTIONS = [
  ["FOLLOW_USER_SETTING", "Server default"],
  ["RESTRICTED", "Restricted: only you (and signed links)"],
  ["ANYONE_WITH_ID_CAN_READ", "Anyone with the store's id can read"],
  ["ANYONE_WITH_NAME_CAN_READ", "Anyone with the id or name can read"],
];

const SHORT = {
  FOLLOW_USER_SETTING: "Server default",
  RESTRICTED: "Restricted",
  ANYONE_WITH_ID_CAN_READ: "Anyone with id",
  ANYONE_WITH_NAME_CAN_READ: "Anyone with name",
};

export function accessLabel(value) {
  return SHORT[value] || value || "—";
}
