// The console's only script: behaviour is declared with data- attributes in the templates, so
// the pages need no inline JavaScript and the Content-Security-Policy can forbid it.
//   data-confirm="…"     on a form (asked on submit) or a button/link (asked on click)
//   data-autosubmit      on a field: submit its form when it changes
//   data-print           on a link/button: print the page
//   data-select-all="n"  on a checkbox: tick or clear every checkbox named n
//   data-filters-by="id" on a select: show only options whose data-project equals the value
//                        of the element with that id (the server checks the pair again)
//   data-roadshow-results="url"  on the hall screen: poll the results JSON every few seconds and
//                        redraw #results and #ranking from it (text only, never HTML)
//   data-roadshow-watch="url"    on an expert's scoring page: poll the same JSON and unhide
//                        #roadshow-moved when the host has put another speaker up
// The navigation's menus are <details> and work without this script; it closes the other menus
// when one opens or when the user clicks elsewhere, and Escape closes the open one.
(function () {
  'use strict';

  document.addEventListener('submit', function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  document.addEventListener('click', function (event) {
    var el = event.target.closest ? event.target.closest('[data-confirm], [data-print]') : null;
    if (!el || el.tagName === 'FORM') return;
    if (el.hasAttribute('data-print')) {
      event.preventDefault();
      window.print();
      return;
    }
    if (!window.confirm(el.getAttribute('data-confirm'))) event.preventDefault();
  }, true);

  document.addEventListener('change', function (event) {
    var el = event.target;
    if (el.hasAttribute && el.hasAttribute('data-autosubmit') && el.form) el.form.submit();
    var group = el.getAttribute && el.getAttribute('data-select-all');
    if (group) {
      document.querySelectorAll('input[type="checkbox"][name="' + group + '"]').forEach(function (box) {
        box.checked = el.checked;
      });
    }
  });

  function syncFiltered(select) {
    var source = document.getElementById(select.getAttribute('data-filters-by'));
    if (!source) return;
    for (var i = 0; i < select.options.length; i++) {
      var option = select.options[i];
      if (!option.value) continue;
      option.hidden = option.getAttribute('data-project') !== source.value;
      if (option.hidden && option.selected) select.value = '';
    }
  }

  var menus = document.querySelectorAll('header.top details.menu');
  menus.forEach(function (menu) {
    menu.addEventListener('toggle', function () {
      if (!menu.open) return;
      menus.forEach(function (other) { if (other !== menu) other.open = false; });
    });
  });
  document.addEventListener('click', function (event) {
    menus.forEach(function (menu) { if (menu.open && !menu.contains(event.target)) menu.open = false; });
  });
  document.addEventListener('keydown', function (event) {
    if (event.key !== 'Escape') return;
    menus.forEach(function (menu) {
      if (!menu.open) return;
      menu.open = false;
      menu.querySelector('summary').focus();
    });
  });

  document.querySelectorAll('select[data-filters-by]').forEach(function (select) {
    var source = document.getElementById(select.getAttribute('data-filters-by'));
    if (source) source.addEventListener('change', function () { syncFiltered(select); });
    syncFiltered(select);
  });
  var ROADSHOW_POLL_MS = 5000;

  function cell(row, text, className) {
    var td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
  }

  function drawRoadshow(data) {
    var body = document.querySelector('#results tbody');
    var ranking = document.getElementById('ranking');
    if (!body || !ranking) return;
    body.textContent = '';
    data.speakers.forEach(function (s) {
      var row = document.createElement('tr');
      row.setAttribute('data-speaker-id', s.id);
      if (s.id === data.current_speaker_id) row.className = 'current';
      cell(row, String(s.position));
      cell(row, s.title);
      cell(row, s.status_label + (!s.shown && s.status !== 'waiting' ? '(已提交 ' + s.finalized + '/' + s.panel + ')' : ''));
      cell(row, s.score ? s.score : (s.shown ? '有效评分不足' : '—'), 'score');
      body.appendChild(row);
    });
    ranking.textContent = '';
    data.ranking.forEach(function (s) {
      var li = document.createElement('li');
      li.setAttribute('data-rank', s.rank);
      li.appendChild(document.createTextNode('第 ' + s.rank + ' 名 ' + s.title + ' '));
      var strong = document.createElement('strong');
      strong.textContent = s.score;
      li.appendChild(strong);
      ranking.appendChild(li);
    });
    if (!data.ranking.length) {
      var none = document.createElement('li');
      none.className = 'muted';
      none.textContent = '暂无得分';
      ranking.appendChild(none);
    }
  }

  function poll(url, onData) {
    function tick() {
      fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data) onData(data); })
        .catch(function () { /* the next tick tries again: the hall's network may drop for a moment */ })
        .then(function () { window.setTimeout(tick, ROADSHOW_POLL_MS); });
    }
    window.setTimeout(tick, ROADSHOW_POLL_MS);
  }

  document.querySelectorAll('[data-roadshow-results]').forEach(function (el) {
    poll(el.getAttribute('data-roadshow-results'), drawRoadshow);
  });
  document.querySelectorAll('[data-roadshow-watch]').forEach(function (el) {
    poll(el.getAttribute('data-roadshow-watch'), function (data) {
      var moved = document.getElementById('roadshow-moved');
      if (moved && String(data.current_speaker_id || '') !== el.getAttribute('data-current')) moved.hidden = false;
    });
  });
})();
