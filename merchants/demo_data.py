"""Static tables of the demo territory: trades, shops, product templates, texts.

Every shop, person and product here is fictional.
"""

from __future__ import annotations

from datetime import time
from typing import NamedTuple

MARMANDE = "47157"
TONNEINS = "47310"


class TradeRow(NamedTuple):
    slug: str
    name_fr: str
    name_en: str
    vat_rate_bp: int  # default rate of its products


class ShopRow(NamedTuple):
    name: str
    trade: str
    insee: str
    tagline: str


class ProductRow(NamedTuple):
    name: str
    category: str
    price: float  # euros TTC, of the first option
    kind: str | None  # key of OPTION_KINDS, None for a single variant
    weight: int | None  # grams, None for services and vouchers
    vat_rate_bp: int | None = None  # None: the trade's rate


class OptionKind(NamedTuple):
    key: str
    values: tuple[str, ...]
    price_factors: tuple[float, ...] | None = None  # per value; None: same price
    weights: tuple[int, ...] | None = None  # per value; None: the product's weight


TRADES = (
    TradeRow("vetements", "Vêtements", "Clothing", 2000),
    TradeRow("chaussures", "Chaussures", "Shoes", 2000),
    TradeRow("bijouterie", "Bijouterie", "Jewellery", 2000),
    TradeRow("epicerie", "Épicerie", "Groceries", 550),
    TradeRow("epicerie-fine", "Épicerie fine", "Delicatessen", 550),
    TradeRow("maison-deco", "Maison et décoration", "Home and decoration", 2000),
    TradeRow("librairie", "Librairie", "Bookshop", 550),
    TradeRow("coiffure", "Coiffure", "Hairdresser", 2000),
    TradeRow("optique", "Optique", "Optician", 2000),
    TradeRow("informatique", "Informatique", "Computing", 2000),
)

OPTION_KINDS = {
    "taille": OptionKind("taille", ("XS", "S", "M", "L", "XL")),
    "taille_enfant": OptionKind("taille", ("4 ans", "6 ans", "8 ans", "10 ans", "12 ans")),
    "pointure": OptionKind("pointure", ("37", "38", "39", "40", "41", "42", "43", "44")),
    "pointure_enfant": OptionKind("pointure", ("24", "26", "28", "30", "32")),
    "couleur": OptionKind("couleur", ("noir", "bleu", "rouge", "vert", "beige", "blanc")),
    "metal": OptionKind("métal", ("argent", "plaqué or", "or jaune 18 carats"), (1, 1.6, 6.5)),
    "doigt": OptionKind("taille", ("50", "52", "54", "56", "58")),
    "longueur": OptionKind("longueur", ("40 cm", "45 cm", "50 cm")),
    "contenance": OptionKind(
        "contenance",
        ("25 cl", "50 cl", "75 cl", "1,5 l"),
        (1, 1.8, 2.5, 4.6),
        (450, 800, 1250, 2400),
    ),
    "flacon": OptionKind(
        "contenance", ("100 ml", "250 ml", "500 ml"), (1, 2, 3.4), (130, 300, 560)
    ),
    "poids": OptionKind(
        "poids",
        ("125 g", "250 g", "500 g", "1 kg"),
        (1, 1.9, 3.6, 6.8),
        (140, 270, 530, 1050),
    ),
    "format": OptionKind("format", ("grand format", "poche"), (1, 0.42), (520, 180)),
    "capacite": OptionKind("capacité", ("32 Go", "64 Go", "128 Go", "256 Go"), (1, 1.5, 2.3, 3.8)),
    "parfum": OptionKind("parfum", ("figue", "vanille", "fleur de coton", "bois de cèdre")),
    "dimension": OptionKind(
        "dimensions", ("40 × 40 cm", "50 × 50 cm", "60 × 60 cm"), (1, 1.3, 1.6)
    ),
}

PRODUCTS: dict[str, tuple[ProductRow, ...]] = {
    "vetements": (
        ProductRow("Pull marin en laine", "Pulls", 79, "taille", 520),
        ProductRow("Marinière en coton bio", "Hauts", 45, "taille", 260),
        ProductRow("Chemise en lin", "Chemises", 69, "taille", 240),
        ProductRow("Jean droit brut", "Pantalons", 89, "taille", 650),
        ProductRow("Robe fleurie d'été", "Robes", 65, "taille", 300),
        ProductRow("Veste en velours côtelé", "Vestes", 119, "taille", 800),
        ProductRow("T-shirt col rond", "Hauts", 25, "couleur", 180),
        ProductRow("Cardigan en mohair", "Pulls", 95, "taille", 420),
        ProductRow("Parka imperméable", "Manteaux", 149, "taille", 950),
        ProductRow("Pantalon chino", "Pantalons", 59, "taille", 480),
        ProductRow("Jupe plissée midi", "Jupes", 55, "taille", 330),
        ProductRow("Écharpe en laine d'agneau", "Accessoires", 39, "couleur", 200),
        ProductRow("Bonnet côtelé", "Accessoires", 22, "couleur", 90),
        ProductRow("Sweat à capuche", "Hauts", 59, "taille", 560),
        ProductRow("Chemisier en viscose", "Chemises", 49, "taille", 190),
        ProductRow("Pyjama en flanelle", "Nuit", 49, "taille", 450),
        ProductRow("Salopette enfant", "Enfant", 39, "taille_enfant", 350),
        ProductRow("Ciré jaune enfant", "Enfant", 45, "taille_enfant", 400),
        ProductRow("Chaussettes en coton (lot de 3)", "Accessoires", 15, "couleur", 120),
        ProductRow("Ceinture en cuir tressé", "Accessoires", 35, "couleur", 180),
        ProductRow("Caban en drap de laine", "Manteaux", 189, "taille", 1300),
        ProductRow("Polo piqué", "Hauts", 45, "couleur", 230),
    ),
    "chaussures": (
        ProductRow("Baskets en cuir blanc", "Baskets", 95, "pointure", 900),
        ProductRow("Bottines chelsea", "Bottines", 129, "pointure", 1100),
        ProductRow("Mocassins en daim", "Ville", 99, "pointure", 750),
        ProductRow("Derbies cuir noir", "Ville", 119, "pointure", 950),
        ProductRow("Sandales en cuir", "Été", 69, "pointure", 450),
        ProductRow("Espadrilles en toile", "Été", 29, "pointure", 380),
        ProductRow("Escarpins à petit talon", "Ville", 89, "pointure", 600),
        ProductRow("Chaussons en feutre", "Maison", 35, "pointure", 300),
        ProductRow("Bottes de pluie", "Pluie", 45, "pointure", 1200),
        ProductRow("Chaussures de marche", "Randonnée", 139, "pointure", 1250),
        ProductRow("Ballerines souples", "Ville", 59, "pointure", 350),
        ProductRow("Baskets enfant à scratch", "Enfant", 49, "pointure_enfant", 450),
        ProductRow("Bottes fourrées enfant", "Enfant", 55, "pointure_enfant", 600),
        ProductRow("Sabots en cuir", "Confort", 79, "pointure", 700),
        ProductRow("Tennis en toile", "Baskets", 45, "pointure", 550),
        ProductRow("Boots en cuir gras", "Bottines", 159, "pointure", 1400),
        ProductRow("Mules à talon bois", "Été", 75, "pointure", 500),
        ProductRow("Cirage et brosse (coffret)", "Entretien", 19, "couleur", 350),
        ProductRow("Semelles en laine", "Entretien", 12, "pointure", 60),
        ProductRow("Imperméabilisant cuir et daim", "Entretien", 14, None, 250),
    ),
    "bijouterie": (
        ProductRow("Bague jonc martelée", "Bagues", 59, "doigt", 8),
        ProductRow("Collier perle d'eau douce", "Colliers", 89, "longueur", 12),
        ProductRow("Boucles d'oreilles créoles", "Boucles d'oreilles", 45, "metal", 6),
        ProductRow("Bracelet jonc", "Bracelets", 69, "metal", 20),
        ProductRow("Pendentif feuille de vigne", "Colliers", 55, "metal", 5),
        ProductRow("Chevalière gravée", "Bagues", 129, "doigt", 14),
        ProductRow("Puces d'oreilles étoile", "Boucles d'oreilles", 29, "metal", 2),
        ProductRow("Chaîne maille forçat", "Colliers", 49, "longueur", 6),
        ProductRow("Bracelet cordon et médaille", "Bracelets", 35, "couleur", 8),
        ProductRow("Alliance ruban", "Bagues", 149, "doigt", 5),
        ProductRow("Montre à quartz cadran blanc", "Montres", 119, "couleur", 60),
        ProductRow("Montre automatique", "Montres", 349, "couleur", 95),
        ProductRow("Bague solitaire oxyde", "Bagues", 79, "doigt", 4),
        ProductRow("Médaille de baptême", "Naissance", 65, "metal", 3),
        ProductRow("Gourmette enfant gravable", "Naissance", 59, "metal", 7),
        ProductRow("Boucles d'oreilles pendantes", "Boucles d'oreilles", 55, "metal", 6),
        ProductRow("Broche libellule", "Accessoires", 39, None, 12),
        ProductRow("Boîte à bijoux en cuir", "Accessoires", 45, "couleur", 320),
        ProductRow("Gravure personnalisée", "Services", 15, None, None),
        ProductRow("Changement de pile de montre", "Services", 12, None, None),
    ),
    "epicerie": (
        ProductRow("Pruneaux d'Agen", "Fruits secs", 4.5, "poids", 250),
        ProductRow("Farine de blé T65", "Épicerie salée", 2.2, None, 1000),
        ProductRow("Lentilles vertes", "Légumes secs", 2.9, "poids", 500),
        ProductRow("Riz de Camargue", "Épicerie salée", 3.4, None, 1000),
        ProductRow("Pâtes artisanales", "Épicerie salée", 3.2, None, 500),
        ProductRow("Huile de tournesol", "Épicerie salée", 3.5, "contenance", 900),
        ProductRow("Café moulu pur arabica", "Boissons", 5.9, "poids", 250),
        ProductRow("Thé noir en vrac", "Boissons", 5.5, "poids", 100),
        ProductRow("Jus de pomme du Lot-et-Garonne", "Boissons", 2.8, "contenance", 1100),
        ProductRow("Confiture de fraises", "Petit-déjeuner", 4.2, None, 380),
        ProductRow("Miel de fleurs", "Petit-déjeuner", 7.5, "poids", 500),
        ProductRow("Œufs fermiers (boîte de 6)", "Frais", 2.9, None, 380),
        ProductRow("Tomates de Marmande", "Fruits et légumes", 3.5, "poids", 1000),
        ProductRow("Pommes de terre", "Fruits et légumes", 2.5, "poids", 2500),
        ProductRow("Fromage de chèvre fermier", "Frais", 3.8, None, 180),
        ProductRow("Yaourts au lait entier (x4)", "Frais", 2.9, None, 520),
        ProductRow("Tablette de chocolat noir", "Sucré", 2.9, None, 100),
        ProductRow("Bonbons à la violette", "Sucré", 3.5, None, 150, 2000),
        ProductRow("Savon de Marseille", "Droguerie", 3.9, None, 300, 2000),
        ProductRow("Liquide vaisselle écologique", "Droguerie", 3.2, None, 550, 2000),
        ProductRow("Bière blonde locale", "Boissons", 2.9, "contenance", 380, 2000),
        ProductRow("Sandwich jambon-beurre du jour", "Snacking", 4.5, None, 250, 1000),
    ),
    "epicerie-fine": (
        ProductRow("Foie gras de canard entier", "Conserves fines", 29, "poids", 200),
        ProductRow("Confit de canard (4 cuisses)", "Conserves fines", 24, None, 1400),
        ProductRow("Rillettes de canard", "Conserves fines", 7.9, None, 200),
        ProductRow("Pruneaux fourrés", "Douceurs", 12.5, "poids", 250),
        ProductRow("Huile d'olive vierge extra", "Huiles et vinaigres", 12, "contenance", 600),
        ProductRow("Vinaigre de vin vieux", "Huiles et vinaigres", 8.5, None, 400),
        ProductRow("Moutarde à l'ancienne", "Condiments", 4.9, None, 250),
        ProductRow("Sel de Guérande aux herbes", "Condiments", 5.5, None, 200),
        ProductRow("Piment d'Espelette AOP", "Condiments", 9.5, None, 50),
        ProductRow("Noix du Périgord", "Douceurs", 6.5, "poids", 500),
        ProductRow("Tomme des Pyrénées", "Fromages", 6.9, "poids", 250),
        ProductRow("Jambon de Bayonne tranché", "Charcuterie", 7.5, None, 150),
        ProductRow("Chocolats pralinés (ballotin)", "Douceurs", 18, "poids", 250, 2000),
        ProductRow(
            "Côtes-du-marmandais rouge", "Vins et spiritueux", 9.5, "contenance", 1250, 2000
        ),
        ProductRow("Buzet blanc", "Vins et spiritueux", 11, "contenance", 1250, 2000),
        ProductRow("Armagnac VSOP", "Vins et spiritueux", 39, "contenance", 1300, 2000),
        ProductRow("Jus de raisin pétillant", "Boissons", 5.9, "contenance", 1200),
        ProductRow("Coffret apéritif gascon", "Coffrets", 35, None, 1500),
        ProductRow("Plateau apéritif à emporter", "Traiteur", 24, None, 900, 1000),
        ProductRow("Plat cuisiné du jour à emporter", "Traiteur", 11.5, None, 450, 1000),
        ProductRow("Tapenade d'olives noires", "Condiments", 6.2, None, 180),
    ),
    "maison-deco": (
        ProductRow("Bougie parfumée", "Senteurs", 24, "parfum", 350),
        ProductRow("Diffuseur à bâtonnets", "Senteurs", 29, "parfum", 400),
        ProductRow("Coussin en lin lavé", "Textile", 35, "dimension", 450),
        ProductRow("Plaid en laine", "Textile", 79, "couleur", 1100),
        ProductRow("Nappe enduite", "Arts de la table", 45, "couleur", 800),
        ProductRow("Mug en grès émaillé", "Arts de la table", 16, "couleur", 380),
        ProductRow("Assiette plate en céramique", "Arts de la table", 14, "couleur", 600),
        ProductRow("Vase en verre soufflé", "Décoration", 39, "couleur", 900),
        ProductRow("Cadre photo en chêne", "Décoration", 22, "dimension", 500),
        ProductRow("Miroir rond en rotin", "Décoration", 69, None, 1800),
        ProductRow("Panier en osier", "Rangement", 29, None, 600),
        ProductRow("Torchons en coton (lot de 2)", "Textile", 18, "couleur", 250),
        ProductRow("Lampe à poser en céramique", "Luminaires", 89, "couleur", 2200),
        ProductRow("Guirlande lumineuse", "Luminaires", 25, None, 300),
        ProductRow("Planche à découper en olivier", "Cuisine", 35, None, 900),
        ProductRow("Théière en fonte", "Cuisine", 49, "couleur", 1500),
        ProductRow("Affiche illustrée de la Garonne", "Décoration", 29, "dimension", 200),
        ProductRow("Savon solide au lait d'ânesse", "Bain", 7.5, "parfum", 110),
        ProductRow("Serviettes de bain en coton", "Bain", 32, "couleur", 700),
        ProductRow("Horloge murale", "Décoration", 55, "couleur", 1200),
    ),
    "librairie": (
        ProductRow("Roman de la rentrée", "Romans", 22, "format", 520),
        ProductRow("Polar régional", "Policiers", 20, "format", 480),
        ProductRow("Bande dessinée : tome 1", "Bande dessinée", 15.5, None, 450),
        ProductRow("Album jeunesse illustré", "Jeunesse", 14.9, None, 500),
        ProductRow("Guide des balades en Val de Garonne", "Régionalisme", 18, None, 350),
        ProductRow("Histoire de la Garonne", "Régionalisme", 29, None, 900),
        ProductRow("Livre de cuisine du Sud-Ouest", "Cuisine", 25, None, 850),
        ProductRow("Recueil de poésie", "Poésie", 12, "format", 250),
        ProductRow("Manga : volume 1", "Bande dessinée", 7.2, None, 200),
        ProductRow("Essai sur la ville de demain", "Essais", 21, "format", 420),
        ProductRow("Premier roman lauréat", "Romans", 20, "format", 460),
        ProductRow("Cahier d'activités vacances", "Parascolaire", 9.9, None, 300),
        ProductRow("Dictionnaire de français", "Parascolaire", 32, None, 1600),
        ProductRow("Guide du jardin au naturel", "Jardin", 19.9, None, 600),
        ProductRow("Roman graphique", "Bande dessinée", 26, None, 800),
        ProductRow("Imagier pour les tout-petits", "Jeunesse", 11.5, None, 350),
        ProductRow("Biographie d'un peintre", "Beaux-arts", 35, None, 1100),
        ProductRow("Carnet de notes relié", "Papeterie", 14, "couleur", 250, 2000),
        ProductRow("Carte cadeau librairie", "Cartes cadeaux", 20, None, None, 2000),
        ProductRow("Marque-pages illustrés (lot de 5)", "Papeterie", 6, None, 30, 2000),
    ),
    "coiffure": (
        ProductRow("Shampoing doux", "Soins", 14.5, "flacon", 300),
        ProductRow("Après-shampoing démêlant", "Soins", 15.5, "flacon", 300),
        ProductRow("Masque réparateur", "Soins", 22, "flacon", 350),
        ProductRow("Huile sèche cheveux", "Soins", 24, None, 150),
        ProductRow("Spray thermoprotecteur", "Coiffage", 17, None, 250),
        ProductRow("Cire coiffante", "Coiffage", 13.5, None, 120),
        ProductRow("Laque fixation forte", "Coiffage", 12, None, 300),
        ProductRow("Brosse en poils de sanglier", "Accessoires", 29, None, 150),
        ProductRow("Peigne en corne", "Accessoires", 15, None, 40),
        ProductRow("Sèche-cheveux professionnel", "Appareils", 89, "couleur", 700),
        ProductRow("Lisseur céramique", "Appareils", 69, None, 450),
        ProductRow("Chouchous en soie (lot de 3)", "Accessoires", 19, "couleur", 30),
        ProductRow("Shampoing solide", "Soins", 11, "parfum", 90),
        ProductRow("Huile à barbe", "Barbier", 19, None, 80),
        ProductRow("Baume après-rasage", "Barbier", 18, None, 120),
        ProductRow("Bon cadeau coupe et brushing", "Bons cadeaux", 45, None, None),
        ProductRow("Bon cadeau soin profond", "Bons cadeaux", 35, None, None),
        ProductRow("Bon cadeau coupe homme et barbe", "Bons cadeaux", 32, None, None),
        ProductRow("Pinces crocodile (lot de 4)", "Accessoires", 8, None, 40),
        ProductRow("Sérum anti-frisottis", "Soins", 21, None, 100),
    ),
    "optique": (
        ProductRow("Monture en acétate", "Montures", 129, "couleur", 30),
        ProductRow("Monture métal ronde", "Montures", 149, "couleur", 25),
        ProductRow("Lunettes de soleil polarisantes", "Solaires", 89, "couleur", 35),
        ProductRow("Lunettes de soleil enfant", "Solaires", 39, "couleur", 25),
        ProductRow("Lunettes de lecture", "Lecture", 29, "couleur", 25),
        ProductRow("Étui rigide", "Accessoires", 15, "couleur", 90),
        ProductRow("Cordon à lunettes", "Accessoires", 9, "couleur", 15),
        ProductRow("Spray nettoyant lentilles", "Entretien", 7.5, None, 60),
        ProductRow("Lingettes nettoyantes (boîte de 30)", "Entretien", 6, None, 80),
        ProductRow("Chiffon microfibre", "Entretien", 5, "couleur", 10),
        ProductRow("Solution multifonction lentilles", "Lentilles", 14.9, None, 400),
        ProductRow("Masque de natation à la vue", "Sport", 49, None, 120),
        ProductRow("Lunettes de sport", "Sport", 79, "couleur", 35),
        ProductRow("Loupe de poche éclairante", "Basse vision", 25, None, 70),
        ProductRow("Jumelles compactes 8 × 25", "Optique de plein air", 119, None, 300),
        ProductRow("Lunettes anti-lumière bleue", "Écrans", 49, "couleur", 25),
        ProductRow("Monture titane légère", "Montures", 219, "couleur", 18),
        ProductRow("Clip solaire", "Solaires", 35, None, 15),
        ProductRow("Ajustement et entretien de monture", "Services", 10, None, None),
        ProductRow("Mini-tournevis de lunettes", "Entretien", 4.5, None, 10),
    ),
    "informatique": (
        ProductRow("Clé USB", "Stockage", 9.9, "capacite", 20),
        ProductRow("Carte microSD", "Stockage", 12.9, "capacite", 5),
        ProductRow("Disque SSD externe", "Stockage", 69, "capacite", 90),
        ProductRow("Souris sans fil", "Périphériques", 24.9, "couleur", 110),
        ProductRow("Clavier AZERTY", "Périphériques", 39.9, "couleur", 650),
        ProductRow("Casque audio Bluetooth", "Audio", 59, "couleur", 250),
        ProductRow("Enceinte portable", "Audio", 49, "couleur", 400),
        ProductRow("Câble USB-C (1 m)", "Câbles", 12.9, None, 40),
        ProductRow("Chargeur secteur rapide", "Alimentation", 24.9, None, 120),
        ProductRow("Batterie externe", "Alimentation", 34.9, None, 250),
        ProductRow("Webcam HD", "Périphériques", 49, None, 150),
        ProductRow("Housse pour ordinateur portable", "Accessoires", 25, "couleur", 300),
        ProductRow("Coque de téléphone", "Téléphonie", 15, "couleur", 40),
        ProductRow("Verre trempé pour smartphone", "Téléphonie", 14.9, None, 30),
        ProductRow("Ordinateur portable reconditionné", "Ordinateurs", 349, None, 1900),
        ProductRow("Tablette reconditionnée", "Ordinateurs", 189, "capacite", 500),
        ProductRow("Imprimante jet d'encre", "Impression", 79, None, 4500),
        ProductRow("Cartouche d'encre", "Impression", 19.9, "couleur", 50),
        ProductRow("Routeur Wi-Fi", "Réseau", 59, None, 400),
        ProductRow("Forfait diagnostic ordinateur", "Services", 35, None, None),
        ProductRow("Forfait installation à domicile", "Services", 59, None, None),
    ),
}

SHOPS = (
    ShopRow("L'Atelier de Margaux", "vetements", MARMANDE, "Prêt-à-porter choisi avec soin"),
    ShopRow("Garonne Mode", "vetements", MARMANDE, "La mode femme et homme du centre-ville"),
    ShopRow("Le Dressing des Petits", "vetements", MARMANDE, "Vêtements enfants de 2 à 12 ans"),
    ShopRow("Maison Delpech", "vetements", TONNEINS, "L'élégance au quotidien depuis 1987"),
    ShopRow("Pas à Pas", "chaussures", MARMANDE, "Chaussures pour toute la famille"),
    ShopRow("La Cordonnerie Moderne", "chaussures", MARMANDE, "Chaussures, entretien et conseils"),
    ShopRow("Semelles & Cie", "chaussures", TONNEINS, "Le confort avant tout"),
    ShopRow("Bijouterie Fabre", "bijouterie", MARMANDE, "Bijoutier-horloger de père en fille"),
    ShopRow("L'Écrin de Lou", "bijouterie", MARMANDE, "Créations de bijoux faits main"),
    ShopRow("Or et Argent", "bijouterie", TONNEINS, "Bijoux, montres et gravures"),
    ShopRow("L'Épicerie du Marché", "epicerie", MARMANDE, "Produits locaux et vrac"),
    ShopRow("Le Panier Marmandais", "epicerie", MARMANDE, "Fruits, légumes et produits fermiers"),
    ShopRow("Épicerie Lafon", "epicerie", TONNEINS, "Votre épicerie de quartier"),
    ShopRow("Vrac et Bocaux", "epicerie", TONNEINS, "Zéro déchet, cent pour cent local"),
    ShopRow("Saveurs de Gascogne", "epicerie-fine", MARMANDE, "Le meilleur du Sud-Ouest"),
    ShopRow(
        "La Cave du Marmandais", "epicerie-fine", MARMANDE, "Vins, spiritueux et épicerie fine"
    ),
    ShopRow("Comptoir Duroc", "epicerie-fine", MARMANDE, "Conserves fines et produits du canard"),
    ShopRow("Les Délices de Tonneins", "epicerie-fine", TONNEINS, "Traiteur et épicerie fine"),
    ShopRow("Maison Garance", "maison-deco", MARMANDE, "Décoration et art de vivre"),
    ShopRow("L'Heure Bleue", "maison-deco", MARMANDE, "Bougies, linge et objets choisis"),
    ShopRow("Terre et Lin", "maison-deco", MARMANDE, "Céramique et textiles naturels"),
    ShopRow("Le Grenier de Tonneins", "maison-deco", TONNEINS, "Déco, cadeaux et trouvailles"),
    ShopRow("Librairie des Arcades", "librairie", MARMANDE, "Librairie indépendante généraliste"),
    ShopRow("La Page Blanche", "librairie", MARMANDE, "Romans, BD et jeunesse"),
    ShopRow("Le Chat qui Lit", "librairie", TONNEINS, "La librairie jeunesse et BD"),
    ShopRow("Salon Élégance", "coiffure", MARMANDE, "Coiffure femme, homme et enfant"),
    ShopRow("L'Instant Coiffure", "coiffure", MARMANDE, "Coupe, couleur et soins naturels"),
    ShopRow("Le Barbier de Garonne", "coiffure", MARMANDE, "Barbier et coiffeur pour hommes"),
    ShopRow("Hair du Temps", "coiffure", TONNEINS, "Votre salon au cœur de Tonneins"),
    ShopRow("Optique Fournier", "optique", MARMANDE, "Opticien diplômé, examen de vue"),
    ShopRow("Vision Plus Marmande", "optique", MARMANDE, "Lunettes, solaires et lentilles"),
    ShopRow("Les Lunettes de Léa", "optique", TONNEINS, "Montures françaises et créateurs"),
    ShopRow("Point Info Garonne", "informatique", MARMANDE, "Vente, réparation et dépannage"),
    ShopRow("Micro Services 47", "informatique", MARMANDE, "Informatique pour les particuliers"),
    ShopRow("Le Repaire Numérique", "informatique", TONNEINS, "Reconditionné et accessoires"),
    ShopRow("Fil d'Ariane", "vetements", TONNEINS, "Mercerie et vêtements tricotés"),
    ShopRow("Talons et Lacets", "chaussures", MARMANDE, "Chaussures femme et homme"),
    ShopRow("Les Trésors d'Eugénie", "bijouterie", MARMANDE, "Bijoux anciens et d'occasion"),
    ShopRow("Au Bon Grain", "epicerie", MARMANDE, "Épicerie bio et vrac"),
    ShopRow("Librairie Montesquieu", "librairie", MARMANDE, "Littérature, essais et régionalisme"),
)

STREETS = {
    MARMANDE: (
        ("rue Léopold-Faye", "47200"),
        ("rue Charles-de-Gaulle", "47200"),
        ("boulevard Gambetta", "47200"),
        ("rue de la République", "47200"),
        ("place du Marché", "47200"),
        ("rue Abel-Boyé", "47200"),
        ("rue Toupinerie", "47200"),
        ("rue du Maréchal-Foch", "47200"),
        ("avenue Jean-Jaurès", "47200"),
        ("rue Portogruaro", "47200"),
    ),
    TONNEINS: (
        ("rue de la République", "47400"),
        ("cours de l'Yser", "47400"),
        ("place Jean-Jaurès", "47400"),
        ("boulevard Charles-de-Gaulle", "47400"),
        ("rue Gambetta", "47400"),
        ("rue du Marché", "47400"),
    ),
}

FIRST_NAMES = (
    "Camille",
    "Léa",
    "Manon",
    "Chloé",
    "Inès",
    "Sarah",
    "Julie",
    "Pauline",
    "Élodie",
    "Margaux",
    "Lucas",
    "Hugo",
    "Louis",
    "Thomas",
    "Nicolas",
    "Julien",
    "Antoine",
    "Mathieu",
    "Romain",
    "Sébastien",
    "Nathalie",
    "Sylvie",
    "Isabelle",
    "Christophe",
    "Laurent",
    "Philippe",
    "Bernard",
    "Martine",
    "Jérôme",
    "Amandine",
)
LAST_NAMES = (
    "Martin",
    "Bernard",
    "Dubois",
    "Lafon",
    "Delpech",
    "Fabre",
    "Fournier",
    "Garcia",
    "Lacoste",
    "Dupuy",
    "Castaing",
    "Laborde",
    "Ducasse",
    "Labat",
    "Darrieux",
    "Barthe",
    "Bourdil",
    "Sabathé",
    "Lalanne",
    "Roux",
    "Faure",
    "Cazenave",
    "Moreau",
    "Ferrand",
    "Lagarde",
    "Vidal",
    "Rouquette",
    "Teyssier",
    "Durand",
    "Brouillet",
)

DESCRIPTIONS = {
    "vetements": (
        "Coupe actuelle et tissu agréable à porter toute la journée.",
        "Fabriqué en Europe, dans un atelier que nous connaissons.",
        "Se lave à 30 °C et garde sa tenue au fil des lavages.",
        "Essayage possible en boutique avant de le réserver en ligne.",
    ),
    "chaussures": (
        "Cuir souple et semelle confortable pour marcher toute la journée.",
        "Chaussant standard : prenez votre pointure habituelle.",
        "Fabriquées au Portugal dans un atelier familial.",
        "Ressemelage possible en boutique.",
    ),
    "bijouterie": (
        "Livré dans son écrin, prêt à offrir.",
        "Réalisé à la main dans notre atelier.",
        "Métal sans nickel, convient aux peaux sensibles.",
        "Ajustement et gravure possibles en boutique.",
    ),
    "epicerie": (
        "Produit sélectionné auprès d'un producteur du Lot-et-Garonne.",
        "Issu de l'agriculture biologique.",
        "À conserver dans un endroit frais et sec.",
        "Disponible aussi en vrac : apportez vos contenants.",
    ),
    "epicerie-fine": (
        "Recette traditionnelle, sans conservateur.",
        "Producteur du Sud-Ouest que nous connaissons personnellement.",
        "Idéal pour un cadeau gourmand.",
        "Se déguste à température ambiante.",
    ),
    "maison-deco": (
        "Pièce réalisée par un artisan de la région.",
        "Chaque pièce est unique : de légères variations sont possibles.",
        "Matières naturelles et durables.",
        "Emballage cadeau offert en boutique.",
    ),
    "librairie": (
        "Le coup de cœur de l'équipe cette saison.",
        "Un livre qui se prête et se partage.",
        "Commandé à l'éditeur si le stock est épuisé, sous 48 heures.",
        "Dédicace possible lors de nos rencontres d'auteurs.",
    ),
    "coiffure": (
        "Le produit que nous utilisons au salon.",
        "Formule sans sulfates, adaptée à tous les types de cheveux.",
        "Fabriqué en France.",
        "Demandez-nous conseil pour l'utiliser au mieux.",
    ),
    "optique": (
        "Ajustement gratuit en magasin.",
        "Garantie deux ans pièces et main-d'œuvre.",
        "Montage de verres correcteurs possible sur ordonnance.",
        "Sélectionné pour sa légèreté et sa solidité.",
    ),
    "informatique": (
        "Testé et configuré en boutique avant la remise.",
        "Garantie d'un an, réparation sur place.",
        "Compatible Windows, macOS et Linux.",
        "Nous reprenons et recyclons votre ancien matériel.",
    ),
}

ADVICE = {
    "vetements": (
        "Lavez vos lainages à froid et séchez-les à plat : ils garderont leur forme.",
        "Entre deux tailles ? Passez les essayer : nous faisons les retouches simples.",
        "Misez sur quelques basiques de qualité plutôt que sur beaucoup de pièces.",
    ),
    "chaussures": (
        "Essayez vos chaussures en fin de journée, quand le pied est un peu gonflé.",
        "Laissez reposer vos chaussures en cuir un jour sur deux.",
        "Imperméabilisez vos chaussures neuves avant la première sortie.",
    ),
    "bijouterie": (
        "Retirez vos bijoux avant la douche et le sport pour qu'ils restent brillants.",
        "Rangez l'argent à l'abri de l'air : il noircit moins vite.",
        "Faites vérifier les griffes de vos bagues une fois par an.",
    ),
    "epicerie": (
        "Achetez de saison : les produits sont meilleurs et moins chers.",
        "Conservez les tomates hors du réfrigérateur pour qu'elles gardent leur goût.",
        "Le vrac permet d'acheter la juste quantité : pensez à vos bocaux.",
    ),
    "epicerie-fine": (
        "Sortez le foie gras du réfrigérateur un quart d'heure avant de le servir.",
        "Un côtes-du-marmandais se sert légèrement frais, autour de 16 °C.",
        "Demandez-nous un coffret sur mesure : nous le composons avec vous.",
    ),
    "maison-deco": (
        "Laissez fondre toute la surface d'une bougie dès le premier allumage.",
        "Mélangez les matières (lin, bois, grès) pour une pièce chaleureuse.",
        "Lavez le lin à 40 °C sans repasser : il n'en sera que plus beau.",
    ),
    "librairie": (
        "Dites-nous les trois derniers livres que vous avez aimés : nous trouverons le suivant.",
        "Pour les enfants, laissez-les choisir : c'est le meilleur moyen de lire.",
        "Tout livre disponible chez l'éditeur peut être commandé chez nous.",
    ),
    "coiffure": (
        "Rincez vos cheveux à l'eau tiède puis froide pour les faire briller.",
        "Protégez vos cheveux de la chaleur avant le séchoir ou le lisseur.",
        "Une coupe d'entretien toutes les six à huit semaines évite les pointes abîmées.",
    ),
    "optique": (
        "Faites contrôler votre vue tous les deux ans, chaque année après 60 ans.",
        "Nettoyez vos verres à l'eau savonneuse plutôt qu'avec votre pull.",
        "Des solaires de catégorie 3 suffisent pour la plage et la montagne en été.",
    ),
    "informatique": (
        "Sauvegardez vos photos sur deux supports différents.",
        "Un ordinateur reconditionné coûte moitié moins cher et dure des années.",
        "Mettez à jour votre système : c'est la première protection contre les virus.",
    ),
}

STORIES = (
    "{owner} a ouvert {shop} en {year}, après quinze ans dans le métier. "
    "La boutique est devenue un rendez-vous du centre de {town}.",
    "Installée à {town} depuis {year}, {shop} est une affaire de famille : "
    "{owner} a repris le commerce de ses parents et l'a fait évoluer.",
    "{shop} est née en {year} de l'envie de {owner} de proposer à {town} "
    "des produits choisis, et de prendre le temps de conseiller chacun.",
    "Depuis {year}, {owner} et son équipe accueillent les habitants de {town} "
    "et des environs dans une boutique où l'on aime passer un moment.",
)

CLOSURE_REASONS = ("Congés annuels", "Inventaire", "Formation de l'équipe", "Travaux")

# Weekly opening templates: weekday → periods (0 = Monday).
LUNCH_BREAK = ((time(9, 30), time(12, 30)), (time(14), time(19)))
HOURS_TEMPLATES: tuple[dict[int, tuple[tuple[time, time], ...]], ...] = (
    # Closed on Sunday and Monday morning, lunch break.
    {
        0: ((time(14), time(19)),),
        1: LUNCH_BREAK,
        2: LUNCH_BREAK,
        3: LUNCH_BREAK,
        4: LUNCH_BREAK,
        5: ((time(9, 30), time(12, 30)), (time(14), time(18, 30))),
    },
    # Monday to Saturday with a lunch break.
    dict.fromkeys(range(6), LUNCH_BREAK),
    # Monday to Saturday, all day.
    {day: ((time(10), time(19)),) for day in range(6)},
    # Tuesday to Saturday, Saturday all day (hairdressers).
    {
        1: ((time(9), time(12)), (time(14), time(19))),
        2: ((time(9), time(12)), (time(14), time(19))),
        3: ((time(9), time(12)), (time(14), time(19))),
        4: ((time(9), time(19)),),
        5: ((time(8, 30), time(17)),),
    },
)
# Food shops also open on Sunday morning.
FOOD_HOURS: dict[int, tuple[tuple[time, time], ...]] = {
    **{day: ((time(8, 30), time(12, 30)), (time(15), time(19, 30))) for day in range(6)},
    6: ((time(9), time(12, 30)),),
}
