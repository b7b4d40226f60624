document.getElementById("app").textContent = "openkvs console";
