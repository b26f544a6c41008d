// Map of the shops on the home page: progressive enhancement. The page lists every
// shop without it; with JavaScript and Leaflet the map appears, reading the shops'
// coordinates from the JSON script tag and the tile server from data attributes.
(function () {
  "use strict";
  var element = document.getElementById("shop-map");
  var source = document.getElementById("shop-map-data");
  if (!element || !source || typeof L === "undefined") { return; }
  var points;
  try { points = JSON.parse(source.textContent || "[]"); } catch (error) { return; }
  points = points.filter(function (p) { return isFinite(p.lat) && isFinite(p.lng); });
  if (!points.length) { return; }

  element.hidden = false;
  var map = L.map(element, {scrollWheelZoom: false});
  L.tileLayer(element.dataset.tileUrl, {
    attribution: element.dataset.attribution || "",
    maxZoom: 19,
  }).addTo(map);

  var bounds = [];
  points.forEach(function (point) {
    var marker = L.marker([point.lat, point.lng], {title: point.name, alt: point.name});
    var popup = document.createElement("p");
    var link = document.createElement("a");
    link.href = point.url;
    link.textContent = point.name;
    popup.appendChild(link);
    popup.appendChild(document.createTextNode(" · " + point.commune));
    marker.bindPopup(popup).addTo(map);
    bounds.push([point.lat, point.lng]);
  });
  map.fitBounds(bounds, {padding: [24, 24], maxZoom: 15});
})();
